"""Erasure in the segment schema.

One person: ``privacy.redact_requested`` as profile attributed it (its
``profile.activity`` on crm.profiles.v1, keyed by the profile, in order with that
person's other activity). Profile is the only service that can tell whose request
it is: a Shopify request names an email and a customer id, an API request a
profile id, and merges may have folded other records (aliases) into the person.
Segment moves a merged record's events to its survivor, so erasing the survivor's
events erases the aliases' too. Events up to the request's ``occurred_at`` lose
their personal data (:func:`crm_segment.domain.erasure.scrub_properties`); ids,
amounts, lines and times stay, so event conditions keep counting the purchases.
A tombstone (``erased_profiles``) keeps events that arrive later (another
partition, a replay) or are merged in later erased as well. Traits need nothing:
they carry no personal data and profile's erased snapshot follows.

A tenant: ``tenant.redact_requested`` on crm.events.v1 (group
``segment-erasure``) deletes every row of the tenant in the schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.erasure import TENANT_REDACT
from crm_common.events.downstream import ProfileActivity
from crm_common.kafka import Message
from crm_segment.domain.erasure import REDACT_TYPE, scrub_properties
from crm_segment.repository import erasure as repo
from crm_segment.repository import locks

ERASURE_GROUP = "segment-erasure"


def redactions(activity: Sequence[ProfileActivity]) -> list[ProfileActivity]:
    return [a for a in activity if a.data.source_type == REDACT_TYPE]


async def erase_person(
    session: AsyncSession, tenant_id: str, profile_id: str, through: datetime
) -> None:
    """Erase what the profile's events hold up to ``through``, now and from now on."""
    await repo.record(session, tenant_id, profile_id, through)
    await _scrub_stored(session, tenant_id, profile_id, through)


async def scrub_arriving(session: AsyncSession, tenant_id: str, rows: list[dict[str, Any]]) -> None:
    """Scrub, before they are stored, events of erased profiles that occurred before
    the erasure (``rows`` as :func:`~crm_segment.repository.profiles.add_events` takes
    them, already pointing at survivors)."""
    erased = await repo.erased_through(session, tenant_id, {r["profile_id"] for r in rows})
    for row in rows:
        through = erased.get(row["profile_id"])
        if through is not None and row["occurred_at"] <= through:
            row["properties"] = scrub_properties(row["type"], row["properties"])


async def after_merge(session: AsyncSession, tenant_id: str, merged_id: str, survivor: str) -> None:
    """The survivor of a merge carries the latest erasure of either record (as profile
    erases a survivor's attributes up to the latest erasure of the two)."""
    erased = await repo.erased_through(session, tenant_id, [merged_id, survivor])
    if erased:
        await erase_person(session, tenant_id, survivor, max(erased.values()))


async def _scrub_stored(
    session: AsyncSession, tenant_id: str, profile_id: str, through: datetime
) -> None:
    changed = []
    for event_id, event_type, properties in await repo.events_through(
        session, tenant_id, profile_id, through
    ):
        scrubbed = scrub_properties(event_type, properties)
        if scrubbed != properties:
            changed.append((event_id, scrubbed))
    await repo.set_properties(session, tenant_id, changed)


async def handle_tenant_erasures(session: AsyncSession, messages: Sequence[Message]) -> None:
    """The ``segment-erasure`` handler: ``tenant.redact_requested`` deletes the tenant's rows."""
    tenants = sorted({m.payload.tenant_id for m in messages if m.payload.type == TENANT_REDACT})
    for tenant_id in tenants:
        await locks.own_tenant(session, tenant_id)  # no fill or evaluation in between
        await repo.erase_tenant(session, tenant_id)
