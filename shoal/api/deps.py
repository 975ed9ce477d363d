"""What every router needs from the running service."""

from __future__ import annotations

from fastapi import Request

from shoal.control.config import Settings


def settings_of(request: Request) -> Settings:
    return request.app.state.services.settings


def base_url(request: Request) -> str:
    """Where clients reach the API: the configured public URL, else the host
    the client used, so that links work from where the request came."""
    settings = settings_of(request)
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")
