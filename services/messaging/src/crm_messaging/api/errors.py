"""Handler and domain errors -> the one error JSON shape, in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from crm_common.errors import error_body
from crm_messaging.domain.errors import LinkNotAllowed, TokenExpired, TrackingTokenError
from crm_messaging.handlers.errors import HandlerError


def _tracking_status(exc: TrackingTokenError) -> tuple[int, str]:
    if isinstance(exc, TokenExpired):
        return 410, "token_expired"
    if isinstance(exc, LinkNotAllowed):
        return 400, "link_not_allowed"
    return 404, "invalid_token"


def install(app: FastAPI) -> None:
    @app.exception_handler(HandlerError)
    async def _handler_error(_: Request, exc: HandlerError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.status)

    @app.exception_handler(TrackingTokenError)
    async def _tracking(_: Request, exc: TrackingTokenError) -> JSONResponse:
        status, code = _tracking_status(exc)
        return JSONResponse(error_body(code, str(exc)), status)
