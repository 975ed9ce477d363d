"""The /v2 application: routers, error rendering, request ids, access log."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request

from shoal.api import errors
from shoal.api.routes import account, actions, catalog, droplets
from shoal.control.config import Settings
from shoal.control.db import Database

log = logging.getLogger("shoal.access")


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
    errors.install(app)
    for module in (droplets, actions, catalog, account):
        app.include_router(module.router)

    @app.middleware("http")
    async def _request_id(request: Request, call_next):
        request.state.request_id = str(uuid.uuid4())
        started = time.perf_counter()
        response = await call_next(request)
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
