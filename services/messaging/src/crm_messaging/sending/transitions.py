"""State transitions of one message, each with its ``message.*`` event and metric.

queued|held -> skipped | held | sending | failed;  sending -> sent | queued (retry) | failed.
Transitions out of ``sending`` are conditional on the attempt token, so a
late answer from an attempt that recovery already replaced changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import RowMapping, func, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging import metrics
from crm_messaging.config import SCHEMA
from crm_messaging.handlers.events import message_event, publish
from crm_messaging.sending import repository as repo
from crm_messaging.sending.channels.base import SendResult
from crm_messaging.sending.render import RenderedMessage

Row = Mapping[Any, Any]


async def skip(
    session: AsyncSession, row: Row, now: datetime, reason: str, detail: str | None
) -> None:
    await repo.update_message(
        session, row["message_id"], state="skipped", reason=reason, detail=detail, finished_at=now
    )
    await publish(session, [message_event("skipped", row, now, reason=_reason(reason, detail))])
    metrics.transition(row["channel"], "skipped", reason)


async def hold(
    session: AsyncSession, row: Row, now: datetime, until: datetime, reason: str
) -> None:
    await repo.update_message(
        session, row["message_id"], state="held", reason=reason, next_attempt_at=until
    )
    event = message_event("held", row, now, discriminators=[until.isoformat()], reason=reason)
    await publish(session, [event])
    metrics.transition(row["channel"], "held", reason)


async def fail(
    session: AsyncSession, row: Row, now: datetime, reason: str, detail: str | None = None
) -> None:
    await repo.update_message(
        session,
        row["message_id"],
        state="failed",
        reason=reason,
        detail=detail,
        finished_at=now,
        lease_until=None,
    )
    await publish(session, [message_event("failed", row, now, reason=reason)])
    metrics.transition(row["channel"], "failed", reason)


async def start_sending(
    session: AsyncSession,
    row: Row,
    now: datetime,
    rendered: RenderedMessage | None,
    provider: str,
    lease: timedelta,
) -> str:
    """Mark ``sending`` under a fresh attempt token (returned); count the attempt."""
    token = str(uuid.uuid4())
    values: dict[str, Any] = {
        "state": "sending",
        "attempt_token": token,
        "attempts": row["attempts"] + 1,
        "lease_until": func.now() + lease,
        "sending_at": now,
        "smtp_stage": None,
        "provider": provider,
        "reason": None,
    }
    if rendered is not None:
        values |= {
            "rendered": rendered.parts,
            "links": rendered.links,
            "missing_variables": rendered.missing,
        }
    await repo.update_message(session, row["message_id"], **values)
    return token


@dataclass(frozen=True)
class Claimed:
    """A message about to be sent by this attempt."""

    message_id: str
    token: str
    attempts: int
    provider: str
    now: datetime
    rendered: RenderedMessage


_START_MANY = text(
    f"""
    UPDATE {SCHEMA}.messages AS m
    SET state = 'sending', attempt_token = v.token, attempts = v.attempts,
        lease_until = now() + CAST(:lease AS interval), sending_at = v.at, smtp_stage = NULL,
        provider = v.provider, reason = NULL, rendered = CAST(v.rendered AS jsonb),
        links = CAST(v.links AS jsonb), missing_variables = CAST(v.missing AS text[]),
        updated_at = now()
    FROM unnest(CAST(:ids AS text[]), CAST(:tokens AS text[]), CAST(:attempts AS integer[]),
                CAST(:ats AS timestamptz[]), CAST(:providers AS text[]),
                CAST(:rendered AS text[]), CAST(:links AS text[]), CAST(:missing AS text[]))
        AS v(id, token, attempts, at, provider, rendered, links, missing)
    WHERE m.message_id = v.id
    """
)


def _text_array(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of ``values`` (each quoted), for one cell of a text[]."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


async def start_sending_many(
    session: AsyncSession, claims: list[Claimed], lease: timedelta
) -> None:
    """:func:`start_sending` for many messages in one statement."""
    if not claims:
        return
    params = {
        "lease": lease,
        "ids": [c.message_id for c in claims],
        "tokens": [c.token for c in claims],
        "attempts": [c.attempts for c in claims],
        "ats": [c.now for c in claims],
        "providers": [c.provider for c in claims],
        "rendered": [orjson.dumps(c.rendered.parts).decode() for c in claims],
        "links": [orjson.dumps(c.rendered.links).decode() for c in claims],
        "missing": [_text_array(c.rendered.missing) for c in claims],
    }
    await session.execute(_START_MANY, params)


async def sent(
    session: AsyncSession, row: Row, token: str, now: datetime, result: SendResult
) -> RowMapping | None:
    done = await repo.update_attempt(
        session,
        row["message_id"],
        token,
        state=result.state,
        provider_message_id=result.provider_message_id,
        lease_until=None,
        **({"sent_at": now, "finished_at": now} if result.state == "sent" else {}),
    )
    if done is not None and result.state == "sent":
        await announce_sent(session, done, now)
    return done


async def announce_sent(session: AsyncSession, row: Row, now: datetime) -> None:
    await announce_sent_many(session, [row], {row["message_id"]: now})


async def announce_sent_many(
    session: AsyncSession, rows: Sequence[Row], at: Mapping[str, datetime]
) -> None:
    """``message.sent`` for each row (sent at ``at[message_id]``), in one outbox write."""
    await publish(session, [message_event("sent", r, at[r["message_id"]]) for r in rows])
    for row in rows:
        metrics.transition(row["channel"], "sent")
        latency = (at[row["message_id"]] - row["queued_at"]).total_seconds()
        metrics.SEND_LATENCY.labels(row["channel"]).observe(max(0.0, latency))


async def retry_later(
    session: AsyncSession, row: Row, token: str, at: datetime, error: str | None
) -> None:
    await repo.update_attempt(
        session,
        row["message_id"],
        token,
        state="queued",
        next_attempt_at=at,
        reason=f"retry:{error}",
        lease_until=None,
        smtp_stage=None,
    )
    metrics.transition(row["channel"], "retry", error)


async def give_up(session: AsyncSession, row: Row, token: str, now: datetime, reason: str) -> None:
    done = await repo.update_attempt(
        session,
        row["message_id"],
        token,
        state="failed",
        reason=reason,
        lease_until=None,
        finished_at=now,
    )
    if done is not None:
        await publish(session, [message_event("failed", done, now, reason=reason)])
        metrics.transition(row["channel"], "failed", reason)


def _reason(reason: str, detail: str | None) -> str:
    return f"{reason}:{detail}" if detail else reason
