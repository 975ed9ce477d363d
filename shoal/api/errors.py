"""Every error leaves the API as DigitalOcean's body.

``{"id": "not_found", "message": "...", "request_id": "..."}``: ShoalError
subclasses carry their own status and id; Starlette's HTTP errors (unknown
path, wrong method) and pydantic's validation errors are translated here;
anything unexpected becomes a 500 ``server_error`` whose traceback is
logged once.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shoal.api.bodies import JSONBody
from shoal.control.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    ShoalError,
    Unprocessable,
)

log = logging.getLogger(__name__)

_BY_STATUS = {400: BadRequest, 404: NotFound, 405: MethodNotAllowed}


def error_response(request: Request, error: ShoalError) -> JSONBody:
    request_id = getattr(request.state, "request_id", None)
    body = {"id": error.error_id, "message": error.message}
    if request_id:
        body["request_id"] = request_id
    return JSONBody(body, status_code=error.status)


def _validation_message(exc: RequestValidationError) -> ShoalError:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return BadRequest("The request body is not valid JSON.")

    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = first.get("msg", "invalid request")
    if first.get("type") == "string_pattern_mismatch" and where.startswith("name"):
        return Unprocessable(
            "Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)"
        )
    if first.get("type") == "missing":
        return Unprocessable(f"{where} is required.")
    return Unprocessable(f"{where}: {message}" if where else message)


def install(app: FastAPI) -> None:
    @app.exception_handler(ShoalError)
    async def _shoal(request: Request, exc: ShoalError):
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return error_response(request, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        error_class = _BY_STATUS.get(exc.status_code, ShoalError)
        error = error_class()
        error.status = exc.status_code
        return error_response(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error path=%s", request.url.path)
        return error_response(request, ShoalError())
