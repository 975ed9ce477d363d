"""What every router needs from the running service."""

from __future__ import annotations

from fastapi import Request

from shoal.control.config import Settings

# Dependencies that only read the request are `async def`: FastAPI runs a
# plain `def` dependency in a worker thread, and for work this small the
# hop to the thread and back costs more than the work.


async def settings_of(request: Request) -> Settings:
    return _settings(request)


def _settings(request: Request) -> Settings:
    return request.app.state.services.settings


def base_url(request: Request) -> str:
    """Where clients reach the API: the configured public URL, else the host
    the client used, so that links work from where the request came."""
    settings = _settings(request)
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")
