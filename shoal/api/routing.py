"""A router for DigitalOcean's paths.

Each path is answered with and without a trailing slash: python-digitalocean
asks for ``droplets/`` and godo for ``droplets``, and a redirect would turn
a POST into a GET in ``requests``, so both spellings are served directly.

A route returns a dict; the router renders it as the route's status with
``JSONBody`` (see ``shoal.api.bodies`` for why). A route that returns a
``Response`` of its own (a 204) sends it as it is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from shoal.api.bodies import JSONBody


class SlashRouter(APIRouter):
    def add_api_route(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        reads = set(kwargs.get("methods") or ()) <= {"GET", "HEAD"}
        endpoint = _rendered(endpoint, kwargs.get("status_code") or 200, inline=reads)
        super().add_api_route(path, endpoint, **kwargs)
        kwargs["include_in_schema"] = False
        kwargs.pop("name", None)
        alternate = path[:-1] if path.endswith("/") else path + "/"
        super().add_api_route(alternate, endpoint, **kwargs)


def _rendered(
    endpoint: Callable[..., Any], status: int, *, inline: bool
) -> Callable[..., Any]:
    """The route, rendering its dict as JSON.

    A read (`inline`) runs on the event loop: its queries are short reads,
    which SQLite in WAL mode never makes wait, and the hop to a worker
    thread and back cost more than the work. Routes that write still run in
    a worker thread, where waiting for SQLite's write lock blocks no one.
    """

    def answer(*args: Any, **kwargs: Any) -> Response:
        body = endpoint(*args, **kwargs)
        if isinstance(body, Response):
            return body
        return JSONBody(body, status_code=status)

    # FastAPI reads the parameters through functools.wraps' __wrapped__, and
    # picks the thread or the loop by whether the wrapper is a coroutine.
    if inline:

        @functools.wraps(endpoint)
        async def read(*args: Any, **kwargs: Any) -> Response:
            return answer(*args, **kwargs)

        return read

    return functools.wraps(endpoint)(answer)
