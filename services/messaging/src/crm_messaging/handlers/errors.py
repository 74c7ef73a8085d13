"""Errors use cases raise; the API maps them to status codes in one place (api/errors.py).

HandlerError
 ├── NotFound     404: the named thing does not exist for this tenant
 ├── Invalid      422: the request cannot be carried out as given (details name fields)
 ├── Conflict     409: the request contradicts the current state
 ├── Forbidden    403: a signature did not verify
 ├── BadRequest   400: the body could not be read (the message says what was missing)
 └── Unsupported  415: a content type the endpoint does not take
"""

from __future__ import annotations

from typing import Any


class HandlerError(Exception):
    status = 400
    code = "error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(HandlerError):
    status = 404
    code = "not_found"


class Invalid(HandlerError):
    status = 422
    code = "invalid_request"


class Conflict(HandlerError):
    status = 409
    code = "conflict"


class Forbidden(HandlerError):
    status = 403
    code = "forbidden"


class BadRequest(HandlerError):
    status = 400
    code = "bad_request"


class Unsupported(HandlerError):
    status = 415
    code = "unsupported_media_type"
