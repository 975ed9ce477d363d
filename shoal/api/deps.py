"""What every router needs from the running service."""

from __future__ import annotations

from fastapi import Request

from shoal.control.config import Settings


def settings_of(request: Request) -> Settings:
    return request.app.state.services.settings
