"""What every /v2 request goes through, around the routes.

A request id, the caller's rate limit (a 429 before any route runs), the
``ratelimit-*`` and ``x-request-id`` headers on every answer, one access
log line per request, and DigitalOcean's 500 for anything unexpected, with
the same headers as every other answer.

A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` streams each
response through a task group and a memory channel, which cost more per
request than all of Shoal's own work on a small one.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shoal.api import errors
from shoal.api.ratelimit import CallerLimits, stamp
from shoal.control.errors import ShoalError, TooManyRequests

log = logging.getLogger("shoal.access")


class Frame:
    def __init__(self, app: ASGIApp, limits: CallerLimits):
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        request = Request(scope)
        request.state.request_id = str(uuid.uuid4())
        verdict = self.limits.charge(request)
        answered: dict = {}

        async def send_framed(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
                headers = MutableHeaders(scope=message)
                stamp(headers, verdict)
                headers["x-request-id"] = request.state.request_id
            await send(message)

        if verdict.allowed:
            await self._answer(request, receive, send_framed, answered)
            self.limits.learn(request)
        else:
            refused = errors.error_response(request, TooManyRequests())
            await refused(scope, receive, send_framed)

        log.info(
            "%s %s status=%s ms=%.1f",
            request.method,
            request.url.path,
            answered.get("status", 500),
            (time.perf_counter() - started) * 1000,
        )

    async def _answer(
        self, request: Request, receive: Receive, send: Send, answered: dict
    ) -> None:
        # Unexpected errors become DigitalOcean's 500 here rather than in
        # Starlette's outermost handler, so they carry the same headers as
        # every other response, and their traceback is logged once.
        try:
            await self.app(request.scope, receive, send)
        except Exception:
            log.exception("unhandled error path=%s", request.url.path)
            if "status" in answered:
                return
            failed = errors.error_response(request, ShoalError())
            await failed(request.scope, receive, send)
