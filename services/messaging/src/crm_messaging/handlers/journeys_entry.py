"""What a run knows about its person (facts), and starting a run (entry rules)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import stable_event_id
from crm_common.events.customers import Channel, ConsentState
from crm_messaging.domain.journeys import (
    EngagementFact,
    Facts,
    JourneyDefinition,
    OrderFact,
    RunState,
    reentry_allowed,
    run_key,
)
from crm_messaging.domain.recipients import recipient_state
from crm_messaging.metrics_journeys import RUNS_STARTED
from crm_messaging.repository import journey_facts as facts_repo
from crm_messaging.repository import journey_runs as runs_repo

_CONTEXT_KEYS = ("order_id", "checkout_token", "cart_token", "recovery_url")
# Channels whose marketing needs an explicit subscription; the others only an address.
_OPT_IN = (Channel.EMAIL, Channel.SMS, Channel.LINE)


def reachable(traits: Mapping[str, Any]) -> frozenset[Channel] | None:
    """Channels with an address and no refusal; None when the person is unknown."""
    if not traits:
        return None
    state = recipient_state("", traits)
    has = {
        Channel.EMAIL: state.email,
        Channel.SMS: state.phone,
        Channel.LINE: state.line_user_id,
        Channel.POSTAL_DM: state.address,
        Channel.CALL: state.phone,
    }
    out = set()
    for channel, address in has.items():
        consent = state.consents.get(channel, ConsentState.NEVER)
        refused = consent == ConsentState.UNSUBSCRIBED or (
            channel in _OPT_IN and consent != ConsentState.SUBSCRIBED
        )
        if address and not refused:
            out.add(channel)
    return frozenset(out)


def _order_fact(ref: str, at: datetime, data: Mapping[str, Any]) -> OrderFact:
    return OrderFact(
        order_id=ref,
        placed_at=at,
        product_ids=frozenset(data.get("product_ids") or ()),
        checkout_token=data.get("checkout_token"),
        cart_token=data.get("cart_token"),
    )


async def load_facts(session: AsyncSession, tenant_id: str, profile_id: str) -> Facts:
    return (await load_facts_many(session, [(tenant_id, profile_id)]))[(tenant_id, profile_id)]


async def load_facts_many(
    session: AsyncSession,
    keys: Sequence[tuple[str, str]],
    reachable_for: Collection[tuple[str, str]] | None = None,
) -> dict[tuple[str, str], Facts]:
    """What runs know about each (tenant, profile): three queries for any number.

    ``reachable_for``: the people whose reachable channels are needed (only a send
    step with alternatives reads them); None: everyone. Working them out parses every
    trait of the person, the largest single cost of a batch in the profile."""
    traits = await facts_repo.traits_many(session, keys)
    rows = await facts_repo.facts_many(session, keys)
    segments = await facts_repo.segments_many(session, keys)
    return {
        key: _facts(
            traits[key], rows[key], segments[key], reachable_for is None or key in reachable_for
        )
        for key in set(keys)
    }


def _facts(
    traits: dict[str, Any],
    rows: Sequence[RowMapping],
    segments: frozenset[str],
    with_reachable: bool = True,
) -> Facts:
    return Facts(
        traits=traits,
        segments=segments,
        engagements=tuple(
            EngagementFact(kind=row["kind"], at=row["at"], message_id=row["data"].get("message_id"))
            for row in rows
            if row["kind"] in ("opened", "clicked")
        ),
        orders=tuple(
            _order_fact(row["ref"], row["at"], row["data"])
            for row in rows
            if row["kind"] == "order"
        ),
        reachable_channels=reachable(traits) if with_reachable else None,
    )


@dataclass(frozen=True)
class Trigger:
    """The fact that may start a run: an event (its JSON form), a segment entry or a date."""

    kind: str  # event | segment_entered | date_trait
    fallback_key: str  # the event id, or the date occurrence
    event: Mapping[str, Any] | None = None


def _context(event: Mapping[str, Any] | None) -> dict[str, str]:
    data = (event or {}).get("data") or {}
    return {key: str(data[key]) for key in _CONTEXT_KEYS if data.get(key) is not None}


# An entry condition is checked this long after the trigger, by the worker: the
# trigger (profile.activity) is published before the profile change it causes, and
# the recipients read model (traits) is fed by another consumer.
ENTRY_SETTLE = timedelta(seconds=10)
ENTRY_REJECTED = "entry_condition"


def entry_state(profile_id: str, now: datetime) -> RunState:
    return RunState(
        run_id="entry",
        profile_id=profile_id,
        entered_at=now,
        current_step_id=None,
        step_entered_at=now,
    )


async def enter(
    session: AsyncSession,
    journey: RowMapping,
    profile_id: str,
    trigger: Trigger,
    now: datetime,
) -> str | None:
    """Start a run of ``journey`` (a live journey row with its current definition) for
    the person, unless the re-entry rule, the run key or the entry condition says no.
    The run id, or None."""
    defn = JourneyDefinition.model_validate(journey["definition"])
    tenant_id, journey_id = journey["tenant_id"], journey["journey_id"]
    previous = await runs_repo.entries(session, tenant_id, journey_id, profile_id)
    previous = [row for row in previous if row["exit_reason"] != ENTRY_REJECTED]
    active = any(row["status"] == "active" for row in previous)
    if not reentry_allowed(defn.re_entry, [row["entered_at"] for row in previous], now, active):
        return None
    key = (run_key(defn.trigger, trigger.event) if trigger.event else None) or trigger.fallback_key
    run_id = stable_event_id("journey-run", tenant_id, journey_id, profile_id, key)
    if not await runs_repo.claim_key(session, tenant_id, journey_id, key, run_id):
        return None
    start = defn.start_step_id
    pending = defn.entry_condition is not None  # visited stays empty until it is checked
    created = await runs_repo.insert_run(
        session,
        {
            "run_id": run_id,
            "tenant_id": tenant_id,
            "journey_id": journey_id,
            "version": journey["version"],
            "profile_id": profile_id,
            "status": "active",
            "current_step_id": start,
            "entered_at": now,
            "step_entered_at": now,
            "visited": {start: now.isoformat()} if start and not pending else {},
            "context": _context(trigger.event),
            "next_wake_at": now + ENTRY_SETTLE if pending else now,
            "updated_at": now,
        },
    )
    if not created:
        return None
    detail = {"trigger": trigger.kind, "key": key, "version": journey["version"]}
    await runs_repo.add_history(session, run_id, tenant_id, [(start, "entered", detail, now)])
    RUNS_STARTED.labels(trigger.kind).inc()
    return run_id
