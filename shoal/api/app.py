"""The /v2 application: its routers, error rendering and request frame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI

from shoal.api import errors
from shoal.api.frame import Frame
from shoal.api.ratelimit import CallerLimits
from shoal.api.routes import (
    account,
    actions,
    catalog,
    droplet_actions,
    droplet_lists,
    droplets,
    images,
    oauth,
    snapshots,
    tags,
)
from shoal.control.config import Settings
from shoal.control.db import Database
from shoal.control.ratelimit import RateLimiter

ROUTERS = (
    droplets,
    droplet_actions,
    droplet_lists,
    actions,
    catalog,
    images,
    snapshots,
    tags,
    account,
    oauth,
)


@dataclass
class Services:
    settings: Settings
    db: Database
    wake_engine: Callable[[], None] = field(default=lambda: None)


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Shoal",
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.services = services
    settings = services.settings
    limits = CallerLimits(
        RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_per_hour)
    )
    app.state.limits = limits
    errors.install(app)
    for module in ROUTERS:
        app.include_router(module.router)

    app.add_middleware(Frame, limits=limits)
    return app
