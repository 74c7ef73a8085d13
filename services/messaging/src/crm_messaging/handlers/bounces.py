"""Email bounces and complaints: raw DSNs and an ESP-style JSON webhook.

Both end in ``message.bounced`` / ``message.complained`` through the outbox; the
profile service turns them into suppressions. Event ids are stable per
(message, kind, severity[, soft status]), so a repeated report is a no-op
downstream. The message's state stays ``sent``; the bounce is recorded on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.customers import Channel
from crm_messaging import metrics
from crm_messaging.domain.bounces import (
    DsnError,
    Severity,
    bounce_reason,
    parse_dsn,
    status_in,
)
from crm_messaging.handlers.errors import BadRequest, Conflict, HandlerError, NotFound
from crm_messaging.handlers.events import message_event, publish
from crm_messaging.repository import bounces as bounce_repo
from crm_messaging.sending import repository as repo

Row = Mapping[Any, Any]


class EspEvent(BaseModel):
    """One item of the webhook (the common shape of SES/SendGrid/Postmark relays)."""

    message_id: str
    type: Literal["bounce", "complaint"]
    bounce_type: Literal["hard", "soft"] | None = None
    reason: str | None = None  # free text; only an enhanced status code is kept from it


async def _email_message(session: AsyncSession, tenant_id: str, candidates: tuple[str, ...]) -> Row:
    for message_id in candidates:
        row = await repo.lock_message(session, message_id)
        if row is not None and row["tenant_id"] == tenant_id:
            if row["channel"] != Channel.EMAIL.value:
                raise Conflict(f"message {message_id} is not an email", [{"path": "message_id"}])
            return row
    raise NotFound(f"unknown message {candidates[0]}", [{"path": "message_id"}])


async def _bounce(
    session: AsyncSession, row: Row, severity: Severity, status: str | None, now: datetime
) -> dict[str, Any]:
    message_id = row["message_id"]
    await bounce_repo.record_bounce(session, message_id, f"{severity}:{status or '-'}", now)
    extra = (status or "-",) if severity == "soft" else ()
    event = message_event(
        "bounced",
        row,
        now,
        discriminators=(severity, *extra),
        reason=bounce_reason(severity, status),
    )
    await publish(session, [event])
    metrics.BOUNCES.labels(severity).inc()
    return {
        "message_id": message_id,
        "event": "message.bounced",
        "event_id": event.event_id,
        "bounce_type": severity,
        "smtp_status": status,
    }


async def _complaint(session: AsyncSession, row: Row, now: datetime) -> dict[str, Any]:
    await bounce_repo.record_complaint(session, row["message_id"], now)
    event = message_event("complained", row, now, reason="complaint")
    await publish(session, [event])
    metrics.BOUNCES.labels("complaint").inc()
    return {
        "message_id": row["message_id"],
        "event": "message.complained",
        "event_id": event.event_id,
    }


async def email_dsn(
    session: AsyncSession, tenant_id: str, raw: bytes, now: datetime
) -> dict[str, Any]:
    """A raw RFC 3464 bounce -> message.bounced (hard for 5.x.x, soft for 4.x.x)."""
    try:
        dsn = parse_dsn(raw)
    except DsnError as exc:
        raise BadRequest(f"not a usable delivery status notification: {exc}") from exc
    row = await _email_message(session, tenant_id, dsn.message_ids)
    severity = dsn.severity
    if severity is None:  # a success report (2.x.x): nothing to suppress
        return {"message_id": row["message_id"], "event": None, "smtp_status": dsn.status}
    return await _bounce(session, row, severity, dsn.status, now)


def _invalid(index: int, exc: ValidationError) -> dict[str, Any]:
    details = [
        {"path": ".".join(str(p) for p in (index, *e["loc"])), "message": e["msg"]}
        for e in exc.errors()
    ]
    return {"index": index, "status": 422, "error": {"code": "invalid_request", "details": details}}


async def _one(
    session: AsyncSession, tenant_id: str, item: EspEvent, now: datetime
) -> dict[str, Any]:
    row = await _email_message(session, tenant_id, (item.message_id,))
    if item.type == "complaint":
        return await _complaint(session, row, now)
    status = status_in(item.reason or "")
    severity: Severity = item.bounce_type or ("soft" if status and status[0] == "4" else "hard")
    return await _bounce(session, row, severity, status, now)


async def email_events(
    session: AsyncSession, tenant_id: str, items: list[Any], now: datetime
) -> list[dict[str, Any]]:
    """Each item on its own: a bad or unknown one does not stop the others."""
    results: list[dict[str, Any]] = []
    for index, raw in enumerate(items):
        try:
            item = EspEvent.model_validate(raw)
        except ValidationError as exc:
            results.append(_invalid(index, exc))
            continue
        try:
            done = await _one(session, tenant_id, item, now)
        except HandlerError as exc:
            error = {"code": exc.code, "message": exc.message, "details": exc.details}
            results.append({"index": index, "status": exc.status, "error": error})
            continue
        results.append({"index": index, "status": 200, **done})
    return results
