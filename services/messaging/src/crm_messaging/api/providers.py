"""Provider callbacks (signed by us in the callback URL)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Response

from crm_messaging.api.deps import ServicesDep
from crm_messaging.handlers.providers import sms_status

router = APIRouter(prefix="/v1/providers", tags=["providers"])


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
