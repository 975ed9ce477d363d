"""A router that answers each path with and without a trailing slash.

python-digitalocean asks for ``droplets/`` and godo for ``droplets``; a
redirect would turn a POST into a GET in ``requests``, so both spellings
are served directly.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter


class SlashRouter(APIRouter):
    def add_api_route(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        kwargs["include_in_schema"] = False
        kwargs.pop("name", None)
        alternate = path[:-1] if path.endswith("/") else path + "/"
        super().add_api_route(alternate, endpoint, **kwargs)
