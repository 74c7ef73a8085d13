"""Provider callbacks: SMS delivery reports."""

from __future__ import annotations

import hmac
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging import metrics
from crm_messaging.handlers.errors import Forbidden, NotFound
from crm_messaging.handlers.events import message_event, publish
from crm_messaging.repository.tenants import tracking_keys
from crm_messaging.sending import repository as repo
from crm_messaging.sending.channels.sms import status_signature

# Twilio error codes that mean the number will never take an SMS.
HARD_FAILURES = frozenset({"21211", "21614", "30003", "30005", "30006"})
FAILED = frozenset({"failed", "undelivered"})


async def _verify(session: AsyncSession, message_id: str, signature: str) -> None:
    """Forbidden unless ``signature`` is the tenant's for this message (no lock taken)."""
    row = await repo.get_message(session, message_id)
    if row is None:
        raise NotFound("unknown message")
    keys = await tracking_keys(session, row["tenant_id"])
    if not any(hmac.compare_digest(status_signature(k, message_id), signature) for k in keys):
        raise Forbidden("bad callback signature")


async def sms_status(
    session: AsyncSession,
    message_id: str,
    signature: str,
    status: str,
    error_code: str | None,
    now: datetime,
) -> None:
    """``delivered`` -> message.delivered; ``failed``/``undelivered`` -> message.failed
    (and message.bounced for numbers that cannot take SMS). Other statuses are progress.

    The signature is checked before the row is locked: an unsigned caller never
    takes a lock the dispatcher or a genuine callback would wait on."""
    await _verify(session, message_id, signature)
    row = await repo.lock_message(session, message_id)
    if row is None:
        raise NotFound("unknown message")
    if status == "delivered":
        await repo.update_message(session, message_id, delivered_at=now)
        await publish(session, [message_event("delivered", row, now)])
        metrics.transition(row["channel"], "delivered")
    elif status in FAILED:
        reason = f"provider:{status}:{error_code or '-'}"
        await repo.update_message(session, message_id, state="failed", reason=reason)
        events = [message_event("failed", row, now, discriminators=["provider"], reason=reason)]
        if error_code in HARD_FAILURES:
            events.append(message_event("bounced", row, now, reason="hard"))
        await publish(session, events)
        metrics.transition(row["channel"], "failed", "provider")
