"""Points written through the API: grant, use, adjust (idempotent by key).

Each write locks the person's record (``SELECT ... FOR UPDATE``, as the consumer
does), so two uses racing for the same points are decided one after the other: a
use larger than the balance is refused (409 ``insufficient_points``). The entry is
stored under its key, unique per tenant; the same key again with the same request
answers with the current ledger and changes nothing, with another request it is 409
``idempotency_key_reused``. The profile's snapshot is then recomputed and published
as ``profile.changed`` through the outbox, in the same transaction, exactly as the
consumer does (:func:`crm_profile.handlers.publish.finish`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.errors import ApiError
from crm_common.events import UtcDatetime
from crm_profile.domain import OrderFact
from crm_profile.domain.loyalty import member_rank
from crm_profile.domain.loyalty_rules import Programme
from crm_profile.domain.points import EntryKind, PointsEntry, compute_ledger
from crm_profile.handlers import loyalty
from crm_profile.handlers.batch import TenantBatch
from crm_profile.handlers.process import thresholds_of
from crm_profile.handlers.publish import finish
from crm_profile.handlers.views import live_row
from crm_profile.repository import facts as fact_repo
from crm_profile.repository import loyalty as loyalty_repo

_MAX = 10**9


class PointsIn(BaseModel):
    """``points`` > 0 to grant or use; an adjustment is signed (never 0)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=200, description="idempotency key, per tenant")
    points: int = Field(ge=-_MAX, le=_MAX)
    reason: str | None = Field(default=None, max_length=500)
    order_id: str | None = Field(default=None, max_length=200)
    expires_at: UtcDatetime | None = Field(default=None, description="grants only")


async def programme_or_409(session: AsyncSession, tenant_id: str) -> Programme:
    programme = await loyalty_repo.programme_of(session, tenant_id)
    if programme is None:
        raise ApiError(
            409, "loyalty_not_enabled", "set the loyalty rules first (PUT /v1/settings/loyalty)"
        )
    return programme


def _entry(kind: EntryKind, body: PointsIn, now: datetime) -> PointsEntry:
    problems = []
    if kind != "adjust" and body.points <= 0:
        problems.append({"path": "body.points", "message": f"a {kind} takes points > 0"})
    if kind == "adjust" and body.points == 0:
        problems.append({"path": "body.points", "message": "an adjustment is never 0"})
    if kind != "grant" and body.expires_at is not None:
        problems.append({"path": "body.expires_at", "message": "only grants expire"})
    if body.expires_at is not None and body.expires_at <= now:
        problems.append({"path": "body.expires_at", "message": "already past"})
    if problems:
        raise ApiError(422, "invalid_request", problems[0]["message"], problems)
    return PointsEntry(
        key=body.key,
        kind=kind,
        points=body.points,
        at=now,
        expires_at=body.expires_at,
        reason=body.reason,
        order_id=body.order_id,
    )


def _same_request(a: PointsEntry, b: PointsEntry) -> bool:
    skip = {"at"}
    return a.model_dump(exclude=skip) == b.model_dump(exclude=skip)


async def write_points(
    session: AsyncSession, tenant_id: str, profile_id: str, kind: EntryKind, body: PointsIn,
    now: datetime,
) -> dict[str, Any]:  # fmt: skip
    """Apply one grant, use or adjustment; answers with the ledger after it."""
    programme = await programme_or_409(session, tenant_id)
    entry = _entry(kind, body, now)
    pid: str = (await live_row(session, tenant_id, profile_id)).profile_id
    batch = TenantBatch(
        session, tenant_id, now, await thresholds_of(session, tenant_id), programme=programme
    )
    await batch.lock([pid])
    existing = await loyalty_repo.entry_by_key(session, tenant_id, body.key)
    if existing is not None:
        owner, stored = existing
        if owner != pid or not _same_request(stored, entry):
            raise _reused(body.key)
        return await points_view(session, tenant_id, pid, programme, now) | {"replayed": True}
    if kind == "use":
        await _check_balance(session, tenant_id, pid, programme, now, body.points)
    if not await loyalty_repo.add_entries(session, tenant_id, [(pid, entry)]):
        raise _reused(body.key)  # taken meanwhile by a write for another person
    batch.profiles[pid].touched = True
    await finish(batch)
    await loyalty.add_entries_timeline(batch, [(pid, entry)])
    return await points_view(session, tenant_id, pid, programme, now) | {"replayed": False}


def _reused(key: str) -> ApiError:
    return ApiError(
        409,
        "idempotency_key_reused",
        "this key was used for another points request",
        [{"path": "body.key", "message": "already used with other values", "key": key}],
    )


async def _check_balance(
    session: AsyncSession, tenant_id: str, pid: str, programme: Programme, now: datetime,
    wanted: int,
) -> None:  # fmt: skip
    view = await points_view(session, tenant_id, pid, programme, now)
    if view["balance"] < wanted:
        raise ApiError(
            409,
            "insufficient_points",
            f"the balance is {view['balance']} points, {wanted} were asked for",
            [{"path": "body.points", "balance": view["balance"], "requested": wanted}],
        )


async def points_view(
    session: AsyncSession, tenant_id: str, pid: str, programme: Programme, now: datetime
) -> dict[str, Any]:
    """The person's points as of ``now`` and the ledger, newest first."""
    facts = (await fact_repo.facts_of(session, tenant_id, [pid]))[pid]
    orders = [OrderFact.model_validate(raw) for raw in facts.orders.values()]
    entries = (await loyalty_repo.entries_of(session, tenant_id, [pid]))[pid]
    ledger = compute_ledger(orders, entries, programme, now)
    rank, spend = member_rank(orders, programme, now)
    out = ledger.model_dump(mode="json", exclude={"lines"})
    return {
        "profile_id": pid,
        "member_rank": rank,
        "member_rank_spend": format(spend, "f"),
        "currency": programme.currency,
        **out,
        "ledger": [line.model_dump(mode="json") for line in reversed(ledger.lines)],
    }
