"""Provider callbacks: SMS status (signed by us in the callback URL), email bounces."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Form, Request, Response
from fastapi.responses import JSONResponse

from crm_messaging.api.deps import ServicesDep
from crm_messaging.handlers.bounces import email_dsn, email_events
from crm_messaging.handlers.errors import Unsupported
from crm_messaging.handlers.providers import sms_status

router = APIRouter(prefix="/v1/providers", tags=["providers"])

DSN_TYPES = frozenset({"message/rfc822", "text/plain", "multipart/report"})


@router.post("/sms/status", status_code=204, summary="Twilio-style status callback")
async def sms_status_callback(
    services: ServicesDep,
    m: str,
    sig: str,
    MessageStatus: Annotated[str, Form()],  # the provider's field names
    ErrorCode: Annotated[str | None, Form()] = None,
) -> Response:
    async with services.session() as session:
        await sms_status(session, m, sig, MessageStatus, ErrorCode, services.clock.now())
    return Response(status_code=204)


@router.post(
    "/email/dsn",
    summary="A raw bounce email (RFC 3464 DSN) from a mail server pipe or inbound webhook",
)
async def email_dsn_callback(request: Request, services: ServicesDep) -> dict[str, Any]:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind not in DSN_TYPES:
        raise Unsupported(
            f"expected message/rfc822 or text/plain (the whole bounce email), got {kind!r}",
            [{"path": "content-type"}],
        )
    raw = await request.body()
    async with services.tenant_session(request) as (session, caller):
        return await email_dsn(session, caller.tenant_id, raw, services.clock.now())


@router.post(
    "/email/events",
    summary="ESP webhook: [{message_id, type: bounce|complaint, bounce_type, reason}]",
    responses={207: {"description": "some items failed; see each item's status"}},
)
async def email_events_callback(
    request: Request, services: ServicesDep, items: Annotated[list[Any], Body()]
) -> JSONResponse:
    async with services.tenant_session(request) as (session, caller):
        results = await email_events(session, caller.tenant_id, items, services.clock.now())
    status = 200 if all(r["status"] == 200 for r in results) else 207
    return JSONResponse({"results": results}, status_code=status)
