"""The /v2 application: routers, error rendering, request ids, rate limits,
access log."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request

from shoal.api import errors
from shoal.api.ratelimit import CallerLimits, stamp
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
from shoal.control.errors import ShoalError, TooManyRequests
from shoal.control.ratelimit import RateLimiter

log = logging.getLogger("shoal.access")

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

    @app.middleware("http")
    async def _frame(request: Request, call_next):
        request.state.request_id = str(uuid.uuid4())
        started = time.perf_counter()

        verdict = limits.charge(request)
        if verdict.allowed:
            response = await _answer(request, call_next)
            limits.learn(request)
        else:
            response = errors.error_response(request, TooManyRequests())

        stamp(response, verdict)
        response.headers["x-request-id"] = request.state.request_id
        log.info(
            "%s %s status=%s ms=%.1f",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    return app


async def _answer(request: Request, call_next):
    # Unexpected errors are turned into DigitalOcean's 500 here rather than
    # by Starlette's outermost handler, so they carry the same headers as
    # every other response.
    try:
        return await call_next(request)
    except Exception:
        log.exception("unhandled error path=%s", request.url.path)
        return errors.error_response(request, ShoalError())
