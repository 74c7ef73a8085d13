"""Handler exceptions -> the one error JSON shape, in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import ORJSONResponse

from crm_common.errors import error_body
from crm_common.kafka import RecordTooLarge
from crm_ingest import metrics
from crm_ingest.domain import BatchTooLarge, InvalidEvent
from crm_ingest.handlers.errors import BadInput, Conflict, NotFound, Unauthorized
from crm_ingest.handlers.ratelimit import RateLimited


def install(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> ORJSONResponse:
        return ORJSONResponse(error_body("not_found", str(exc)), status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> ORJSONResponse:
        return ORJSONResponse(error_body("conflict", str(exc)), status_code=409)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(request: Request, exc: Unauthorized) -> ORJSONResponse:
        metrics.REJECTED.labels(_channel(request), exc.reason).inc()
        return ORJSONResponse(error_body("unauthorized", str(exc)), status_code=401)

    @app.exception_handler(BadInput)
    async def _bad_input(request: Request, exc: BadInput) -> ORJSONResponse:
        metrics.REJECTED.labels(_channel(request), exc.reason).inc()
        return ORJSONResponse(error_body("bad_request", str(exc)), status_code=400)

    @app.exception_handler(InvalidEvent)
    async def _invalid(_: Request, exc: InvalidEvent) -> ORJSONResponse:
        details = [{"path": path, "message": message} for path, message in exc.errors]
        return ORJSONResponse(error_body("invalid_event", str(exc), details), status_code=422)

    @app.exception_handler(BatchTooLarge)
    async def _too_many(_: Request, exc: BatchTooLarge) -> ORJSONResponse:
        metrics.REJECTED.labels("api", "batch_too_large").inc()
        return ORJSONResponse(error_body("batch_too_large", str(exc)), status_code=413)

    @app.exception_handler(RecordTooLarge)
    async def _record_too_large(request: Request, exc: RecordTooLarge) -> ORJSONResponse:
        # The door's byte limits keep this rare (a body that grows when wrapped): the
        # input can never be published, so it is refused now rather than retried.
        metrics.REJECTED.labels(_channel(request), "too_large").inc()
        return ORJSONResponse(error_body("payload_too_large", str(exc)), status_code=413)

    @app.exception_handler(RateLimited)
    async def _limited(_: Request, exc: RateLimited) -> ORJSONResponse:
        return ORJSONResponse(
            error_body("rate_limited", str(exc)),
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )


def _channel(request: Request) -> str:
    return "webhook" if request.url.path.startswith("/webhooks") else "api"
