"""Loyalty inside a batch's write-back (:func:`crm_profile.handlers.publish.finish`).

For a tenant with a programme, each recomputed snapshot gets the loyalty traits
(:mod:`crm_profile.domain.loyalty`) from the profile's order facts and points
entries, and a changed ``member_rank`` becomes a ``rank.changed`` event: a timeline
row and the person's ``profile.activity``, enqueued just before the
``profile.changed`` carrying the new rank (messaging's journeys and segment's
event conditions read it there). The event id is derived from the profile's new
version, so a replayed batch yields the same one.

The first assignment of ranks to existing customers when a programme is switched on
is silent (their snapshot had no ``member_rank`` yet); a new customer's first rank
is a change from none.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from crm_common.events import stable_event_id
from crm_common.events.loyalty import RankChanged, RankChangedData
from crm_common.outbox import OutboxRow
from crm_profile.config import PROFILES_TOPIC
from crm_profile.domain import OrderFact
from crm_profile.domain.loyalty import loyalty_traits
from crm_profile.domain.loyalty_rules import direction
from crm_profile.domain.points import PointsEntry
from crm_profile.handlers import wire
from crm_profile.handlers.batch import Profile, TenantBatch
from crm_profile.handlers.identity import direct_identity
from crm_profile.handlers.summaries import summary_of
from crm_profile.repository import facts as fact_repo
from crm_profile.repository import loyalty as loyalty_repo


async def entries_for(
    batch: TenantBatch, profile_ids: Sequence[str]
) -> dict[str, list[PointsEntry]]:
    if batch.programme is None:
        return {}
    return await loyalty_repo.entries_of(batch.session, batch.tenant_id, profile_ids)


def traits_of(
    batch: TenantBatch,
    profile: Profile,
    orders: Sequence[OrderFact],
    entries: Sequence[PointsEntry],
) -> dict[str, Any]:
    """The loyalty traits, with ``member_rank_previous`` and ``member_rank_direction``
    (``up``/``down``) of the latest rank change, kept until the next one."""
    if batch.programme is None:
        return {}
    out = loyalty_traits(orders, entries, batch.programme, batch.now)
    if _moved(profile, out["member_rank"]):
        before = profile.traits.get("member_rank")
        out["member_rank_previous"] = before
        out["member_rank_direction"] = direction(
            batch.programme.current, before, out["member_rank"]
        )
    else:
        for name in ("member_rank_previous", "member_rank_direction"):
            out[name] = profile.traits.get(name)
    return out


def _moved(profile: Profile, after: str | None) -> bool:
    """A rank change worth telling: not the silent first assignment to a customer
    who had orders before the programme (their snapshot had no ``member_rank``)."""
    before = profile.traits.get("member_rank")
    known = "member_rank" in profile.traits or not profile.traits.get("orders_count")
    return before != after and known


def rank_changed(batch: TenantBatch, profile: Profile, snapshot: dict[str, Any]) -> Any:
    """The ``rank.changed`` event of this recomputation, or None."""
    if batch.programme is None or "member_rank" not in snapshot:
        return None
    before = profile.traits.get("member_rank")
    after = snapshot["member_rank"]
    if not _moved(profile, after):
        return None
    version = str(profile.version + 1)
    event_id = stable_event_id("rank.changed", batch.tenant_id, profile.profile_id, version)
    return RankChanged(
        event_id=event_id,
        tenant_id=batch.tenant_id,
        source="profile",
        occurred_at=batch.now,
        received_at=batch.now,
        identity=direct_identity(profile.profile_id),
        data=RankChangedData(
            profile_id=profile.profile_id,
            previous_rank=before,
            rank=after,
            direction=snapshot["member_rank_direction"],
            window_spend=Decimal(snapshot["member_rank_spend"]),
            currency=batch.programme.currency,
            at=batch.now,
        ),
    )


def activity_row(batch: TenantBatch, event: RankChanged) -> OutboxRow:
    return wire.activity_row(
        PROFILES_TOPIC, batch.tenant_id, event.data.profile_id, batch.now, event
    )


async def add_entries_timeline(batch: TenantBatch, rows: Sequence[tuple[str, PointsEntry]]) -> None:
    """A timeline row per points entry (``points.grant``, ``points.use`` ...): amounts and
    order ids only, never the free-text reason or the caller's key (no personal data)."""
    await fact_repo.add_timeline(
        batch.session,
        [
            {
                "tenant_id": batch.tenant_id,
                "event_id": stable_event_id("points", batch.tenant_id, entry.key),
                "profile_id": pid,
                "type": f"points.{entry.kind}",
                "occurred_at": entry.at,
                "source": "profile",
                "summary": {"points": entry.points, "order_id": entry.order_id},
            }
            for pid, entry in rows
        ],
    )


async def add_timeline(batch: TenantBatch, events: Sequence[RankChanged]) -> None:
    rows = [
        {
            "tenant_id": batch.tenant_id,
            "event_id": e.event_id,
            "profile_id": e.data.profile_id,
            "type": e.type,
            "occurred_at": e.occurred_at,
            "source": e.source,
            "summary": summary_of(e),
        }
        for e in events
    ]
    await fact_repo.add_timeline(batch.session, rows)
