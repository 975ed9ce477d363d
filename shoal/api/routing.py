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
        endpoint = _rendered(endpoint, kwargs.get("status_code") or 200)
        super().add_api_route(path, endpoint, **kwargs)
        kwargs["include_in_schema"] = False
        kwargs.pop("name", None)
        alternate = path[:-1] if path.endswith("/") else path + "/"
        super().add_api_route(alternate, endpoint, **kwargs)


def _rendered(endpoint: Callable[..., Any], status: int) -> Callable[..., Any]:
    # FastAPI reads the parameters through functools.wraps' __wrapped__.
    @functools.wraps(endpoint)
    def render(*args: Any, **kwargs: Any) -> Response:
        body = endpoint(*args, **kwargs)
        if isinstance(body, Response):
            return body
        return JSONBody(body, status_code=status)

    return render
