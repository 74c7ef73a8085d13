"""The messages table: enqueue, claim, transitions and the send log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import RowMapping, and_, func, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crm_common.events.customers import Channel
from crm_messaging.config import SCHEMA
from crm_messaging.domain.guardrails import SentRecord
from crm_messaging.tables import messages

m = messages
_DUE = text("messaging.messages.state IN ('queued', 'held')")


async def insert_message(session: AsyncSession, values: dict[str, Any]) -> tuple[RowMapping, bool]:
    """Insert a queued message; an existing id is kept as it is. Returns (row, created)."""
    stmt = pg_insert(m).values(**values).on_conflict_do_nothing(index_elements=["message_id"])
    created = (await session.execute(stmt.returning(m))).mappings().first()
    if created is not None:
        return created, True
    existing = await get_message(session, values["message_id"])
    assert existing is not None
    return existing, False


_ANNOUNCED = (
    "message_id, tenant_id, profile_id, channel, purpose, source_kind, source_id, step_id, "
    "template_id"
)
_INSERT_MANY = text(
    f"""
    INSERT INTO {SCHEMA}.messages (message_id, tenant_id, profile_id, channel, purpose,
        source_kind, source_id, step_id, template_id, template_version, inline_parts, context,
        state, next_attempt_at, queued_at)
    SELECT id, tenant, profile, channel, purpose, kind, source, step, template, version,
        CAST(inline AS jsonb), CAST(ctx AS jsonb), state, due, queued
    FROM unnest(CAST(:ids AS text[]), CAST(:tenants AS text[]), CAST(:profiles AS text[]),
        CAST(:channels AS text[]), CAST(:purposes AS text[]), CAST(:kinds AS text[]),
        CAST(:sources AS text[]), CAST(:steps AS text[]), CAST(:templates AS text[]),
        CAST(:versions AS integer[]), CAST(:inlines AS text[]), CAST(:contexts AS text[]),
        CAST(:states AS text[]), CAST(:dues AS timestamptz[]), CAST(:queueds AS timestamptz[]))
        AS v(id, tenant, profile, channel, purpose, kind, source, step, template, version,
             inline, ctx, state, due, queued)
    ON CONFLICT (message_id) DO NOTHING
    RETURNING {_ANNOUNCED}
    """
)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


async def insert_messages(
    session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> Sequence[RowMapping]:
    """Insert queued messages in one statement (arrays, whatever their number); existing
    ids are kept as they are. The new ones (the columns a ``message.*`` event names)."""
    params = {
        "ids": [r["message_id"] for r in rows],
        "tenants": [r["tenant_id"] for r in rows],
        "profiles": [r["profile_id"] for r in rows],
        "channels": [r["channel"] for r in rows],
        "purposes": [r["purpose"] for r in rows],
        "kinds": [r["source_kind"] for r in rows],
        "sources": [r["source_id"] for r in rows],
        "steps": [r.get("step_id") for r in rows],
        "templates": [r.get("template_id") for r in rows],
        "versions": [r.get("template_version") for r in rows],
        "inlines": [_json(r.get("inline_parts")) for r in rows],
        "contexts": [_json(r.get("context") or {}) for r in rows],
        "states": [r["state"] for r in rows],
        "dues": [r["next_attempt_at"] for r in rows],
        "queueds": [r["queued_at"] for r in rows],
    }
    return (await session.execute(_INSERT_MANY, params)).mappings().all()


async def tenants_of(session: AsyncSession, message_ids: Sequence[str]) -> dict[str, str]:
    query = select(m.c.message_id, m.c.tenant_id).where(m.c.message_id.in_(message_ids))
    return {mid: tenant for mid, tenant in (await session.execute(query)).all()}


async def get_message(
    session: AsyncSession, message_id: str, tenant_id: str | None = None
) -> RowMapping | None:
    query = select(m).where(m.c.message_id == message_id)
    if tenant_id is not None:
        query = query.where(m.c.tenant_id == tenant_id)
    return (await session.execute(query)).mappings().first()


async def lock_message(session: AsyncSession, message_id: str) -> RowMapping | None:
    query = select(m).where(m.c.message_id == message_id).with_for_update()
    return (await session.execute(query)).mappings().first()


async def find_by_provider_id(
    session: AsyncSession, provider: str, provider_message_id: str
) -> RowMapping | None:
    query = (
        select(m)
        .where(m.c.provider == provider, m.c.provider_message_id == provider_message_id)
        .with_for_update()
    )
    return (await session.execute(query)).mappings().first()


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[RowMapping]:
    """Queued or held messages whose time has come, locked; other replicas skip them."""
    query = (
        select(m)
        .where(_DUE, m.c.next_attempt_at <= now)
        .order_by(m.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(query)).mappings().all()


async def claim_stale(session: AsyncSession, limit: int) -> Sequence[RowMapping]:
    """Messages left in ``sending`` by a process that died (lease expired, database time)."""
    query = (
        select(m)
        .where(text("messaging.messages.state = 'sending'"), m.c.lease_until < func.now())
        .order_by(m.c.lease_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(query)).mappings().all()


async def lock_profiles(session: AsyncSession, keys: Iterable[tuple[str, str]]) -> None:
    """Serialise decisions per person across replicas (caps must count every send).

    Locks are taken in sorted order so two replicas never deadlock."""
    labels = sorted({f"{tenant}\x1f{profile}" for tenant, profile in keys})
    if labels:
        await session.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
                "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"
            ),
            {"keys": labels},
        )


async def marketing_history(
    session: AsyncSession, keys: Iterable[tuple[str, str]], since: datetime
) -> dict[tuple[str, str], list[SentRecord]]:
    """Marketing messages sent (or being sent) to each person since ``since``."""
    wanted = list(set(keys))
    history: dict[tuple[str, str], list[SentRecord]] = {k: [] for k in wanted}
    if not wanted:
        return history
    at = func.coalesce(m.c.sent_at, m.c.sending_at)
    rows = await session.execute(
        select(m.c.tenant_id, m.c.profile_id, m.c.channel, m.c.purpose, at).where(
            tuple_(m.c.tenant_id, m.c.profile_id).in_(wanted),
            m.c.state.in_(("sent", "sending")),
            m.c.purpose == "marketing",
            at > since,
        )
    )
    for tenant_id, profile_id, channel, purpose, sent_at in rows:
        record = SentRecord(channel=Channel(channel), purpose=purpose, sent_at=sent_at)
        history[(tenant_id, profile_id)].append(record)
    return history


async def update_message(session: AsyncSession, message_id: str, **values: Any) -> None:
    await session.execute(
        m.update().where(m.c.message_id == message_id).values(**values, updated_at=func.now())
    )


async def update_attempt(
    session: AsyncSession, message_id: str, attempt_token: str, **values: Any
) -> RowMapping | None:
    """Update a message still in ``sending`` under this attempt; None if it moved on."""
    stmt = (
        m.update()
        .where(
            m.c.message_id == message_id,
            m.c.attempt_token == attempt_token,
            m.c.state == "sending",
        )
        .values(**values, updated_at=func.now())
        .returning(m)
    )
    found: RowMapping | None = (await session.execute(stmt)).mappings().first()
    return found


async def send_log(
    session: AsyncSession,
    tenant_id: str,
    *,
    profile_id: str | None,
    state: str | None,
    channel: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[RowMapping]:
    """Newest first; ``after`` is the (created_at, message_id) of the previous page's last row."""
    query = select(m).where(m.c.tenant_id == tenant_id)
    if profile_id is not None:
        query = query.where(m.c.profile_id == profile_id)
    if state is not None:
        query = query.where(m.c.state == state)
    if channel is not None:
        query = query.where(m.c.channel == channel)
    if after is not None:
        created, mid = after
        query = query.where(
            or_(m.c.created_at < created, and_(m.c.created_at == created, m.c.message_id < mid))
        )
    query = query.order_by(m.c.created_at.desc(), m.c.message_id.desc()).limit(limit)
    return (await session.execute(query)).mappings().all()


async def complete_sending(
    session: AsyncSession, message_id: str, now: datetime
) -> RowMapping | None:
    """``sending`` -> ``sent`` for a message completed outside a provider call (DM export)."""
    stmt = (
        m.update()
        .where(m.c.message_id == message_id, m.c.state == "sending")
        .values(state="sent", sent_at=now, finished_at=now, updated_at=func.now())
        .returning(m)
    )
    found: RowMapping | None = (await session.execute(stmt)).mappings().first()
    return found


async def mark_unsubscribed(session: AsyncSession, message_id: str, now: datetime) -> bool:
    """Record the first unsubscribe through this message; False if it was recorded before."""
    stmt = (
        m.update()
        .where(m.c.message_id == message_id, m.c.unsubscribed_at.is_(None))
        .values(unsubscribed_at=now, updated_at=func.now())
        .returning(m.c.message_id)
    )
    return (await session.execute(stmt)).first() is not None


_COMPLETE = text(
    f"""
    UPDATE {SCHEMA}.messages AS m
    SET state = 'sent', sent_at = v.at, finished_at = v.at, provider_message_id = v.pid,
        lease_until = NULL, updated_at = now()
    FROM unnest(CAST(:ids AS text[]), CAST(:tokens AS text[]), CAST(:pids AS text[]),
                CAST(:ats AS timestamptz[])) AS v(id, token, pid, at)
    WHERE m.message_id = v.id AND m.attempt_token = v.token AND m.state = 'sending'
    RETURNING m.message_id, m.tenant_id, m.profile_id, m.channel, m.purpose, m.source_kind,
              m.source_id, m.step_id, m.template_id, m.queued_at
    """
)
_MARK_DATA = text(
    f"""
    UPDATE {SCHEMA}.messages AS m SET smtp_stage = 'data'
    FROM unnest(CAST(:ids AS text[]), CAST(:tokens AS text[])) AS v(id, token)
    WHERE m.message_id = v.id AND m.attempt_token = v.token AND m.state = 'sending'
    """
)


@dataclass(frozen=True)
class Completion:
    message_id: str
    attempt_token: str
    provider_message_id: str | None
    at: datetime


async def complete_attempts(
    session: AsyncSession, done: Sequence[Completion]
) -> Sequence[RowMapping]:
    """``sending`` -> ``sent`` for many attempts in one statement; returns those that moved."""
    params = {
        "ids": [d.message_id for d in done],
        "tokens": [d.attempt_token for d in done],
        "pids": [d.provider_message_id for d in done],
        "ats": [d.at for d in done],
    }
    return (await session.execute(_COMPLETE, params)).mappings().all()


async def mark_data_started(conn: AsyncConnection, attempts: Sequence[tuple[str, str]]) -> None:
    """The email marker ``smtp_stage = 'data'`` for many attempts (see sending.recovery)."""
    params = {"ids": [a[0] for a in attempts], "tokens": [a[1] for a in attempts]}
    await conn.execute(_MARK_DATA, params)
