"""Errors the control plane raises, each carrying its HTTP status and DO id.

    ShoalError                    500 server_error
     +-- BadRequest               400 bad_request
     +-- Unauthorized             401 unauthorized
     +-- Forbidden                403 forbidden
     +-- NotFound                 404 not_found
     +-- MethodNotAllowed         405 method_not_allowed
     +-- Unprocessable            422 unprocessable_entity
     +-- TooManyRequests          429 too_many_requests
     +-- ServiceUnavailable       503 service_unavailable

The API renders every one of them, and every error of its own, as
DigitalOcean's body ``{"id", "message", "request_id"}``.
"""

from __future__ import annotations


class ShoalError(Exception):
    status = 500
    error_id = "server_error"
    default_message = "Server was unable to give you a response."

    def __init__(self, message: str | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)


class BadRequest(ShoalError):
    status = 400
    error_id = "bad_request"
    default_message = "The request could not be understood."


class Unauthorized(ShoalError):
    status = 401
    error_id = "unauthorized"
    default_message = "Unable to authenticate you."


class Forbidden(ShoalError):
    status = 403
    error_id = "forbidden"
    default_message = "You are not authorized to perform this operation."


class NotFound(ShoalError):
    status = 404
    error_id = "not_found"
    default_message = "The resource you were accessing could not be found."


class MethodNotAllowed(ShoalError):
    status = 405
    error_id = "method_not_allowed"
    default_message = "The method is not allowed for the requested URL."


class Unprocessable(ShoalError):
    status = 422
    error_id = "unprocessable_entity"
    default_message = "The request could not be processed."


class TooManyRequests(ShoalError):
    status = 429
    error_id = "too_many_requests"
    default_message = "API rate limit exceeded."


class ServiceUnavailable(ShoalError):
    status = 503
    error_id = "service_unavailable"
    default_message = "The hypervisor is unavailable; try again shortly."
