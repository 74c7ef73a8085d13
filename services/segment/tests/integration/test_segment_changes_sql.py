"""Membership changes written by PostgreSQL: rows, outbox events and their ids.

The statement of repository/changes.py builds each outbox payload in SQL from the
event model's own prototype and computes the event id in SQL: both must be exactly
what the Python side would have written (the crash test and downstream dedupe rely
on the ids). A change another writer made first is told by nobody a second time.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from crm_common.db import Database
from crm_common.events import decode_event
from crm_segment.domain.definition import parse_definition
from crm_segment.handlers import publish as out
from crm_segment.repository import bulk, changes, claims
from crm_segment.repository import memberships as membership_repo
from crm_segment.repository.changes import Change
from crm_segment.tables import memberships, outbox, profiles

pytestmark = [pytest.mark.infra, pytest.mark.timeout(120)]

PROFILES = ["p-1", "ひらがな-2", "emoji-\U0001f375", "quote'\"-4", "x" * 300]


async def _outbox(db: Database, tenant: str) -> list[Any]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(outbox.c.key, outbox.c.event_id, outbox.c.payload, outbox.c.topic)
            .where(outbox.c.key.startswith(f"{tenant}:"))
            .order_by(outbox.c.id)
        )
        return rows.all()


async def _apply(db: Database, tenant: str, found: list[Change], at: datetime) -> Any:
    async with db.transaction() as session:
        return await changes.apply(session, out.told(tenant, at), found)


async def test_sql_writes_the_events_python_would_have_written(db: Database) -> None:
    tenant = f"shop-{uuid.uuid4().hex[:8]}"
    entered_at = datetime(2026, 12, 7, 21, 0, 0, 123456, tzinfo=UTC)
    left_at = entered_at + timedelta(hours=1)
    first = [Change("seg_a", pid, True, "profile.changed") for pid in PROFILES]
    first.append(Change("seg_b", "p-1", True, "time"))
    assert await _apply(db, tenant, first, entered_at) == changes.Applied(6, 0)
    second = [Change("seg_a", pid, False, "profile.activity:order.placed") for pid in PROFILES]
    assert await _apply(db, tenant, second, left_at) == changes.Applied(0, 5)

    rows = await _outbox(db, tenant)
    expected = [
        *(out.entered(tenant, "seg_a", pid, entered_at, "profile.changed") for pid in PROFILES),
        out.entered(tenant, "seg_b", "p-1", entered_at, "time"),
        *(
            out.exited(tenant, "seg_a", pid, entered_at, left_at, "profile.activity:order.placed")
            for pid in PROFILES
        ),
    ]
    assert [decode_event(r.payload) for r in rows] == expected
    assert [r.event_id for r in rows] == [e.event_id for e in expected]
    assert [r.key for r in rows] == [e.partition_key() for e in expected]
    assert {r.topic for r in rows} == {"crm.segments.v1"}


async def test_a_change_made_by_someone_else_first_is_not_told_again(db: Database) -> None:
    tenant = f"shop-{uuid.uuid4().hex[:8]}"
    at = datetime.now(UTC)
    enter = [Change("seg_a", "p-1", True, "profile.changed")]
    assert await _apply(db, tenant, enter, at) == changes.Applied(1, 0)
    assert await _apply(db, tenant, enter, at + timedelta(seconds=1)) == changes.Applied(0, 0)
    leave = [Change("seg_a", "p-1", False, "time"), Change("seg_a", "p-2", False, "time")]
    assert await _apply(db, tenant, leave, at + timedelta(seconds=2)) == changes.Applied(0, 1)
    assert await _apply(db, tenant, leave, at + timedelta(seconds=3)) == changes.Applied(0, 0)
    assert len(await _outbox(db, tenant)) == 2
    async with db.transaction() as session:
        rows = await session.execute(
            select(memberships.c.exited_at).where(memberships.c.tenant_id == tenant)
        )
        assert [r.exited_at for r in rows] == [at + timedelta(seconds=2)]


def test_event_ids_depend_on_every_part() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    base = out.entered_event_id("t", "s", "p", at)
    assert base == out.entered_event_id("t", "s", "p", at.astimezone())
    assert str(uuid.UUID(base)) == base and uuid.UUID(base).version == 8
    others = {
        out.exited_event_id("t", "s", "p", at),
        out.entered_event_id("t2", "s", "p", at),
        out.entered_event_id("t", "s2", "p", at),
        out.entered_event_id("t", "s", "p2", at),
        out.entered_event_id("t", "s", "p", at + timedelta(microseconds=1)),
    }
    assert base not in others and len(others) == 5


async def _profiles(db: Database, tenant: str, traits: dict[str, dict[str, Any]]) -> None:
    async with db.transaction() as session:
        await session.execute(
            profiles.insert(),
            [
                {"tenant_id": tenant, "profile_id": pid, "traits": t, "version": 1}
                | {"updated_at": datetime.now(UTC)}
                for pid, t in traits.items()
            ],
        )


async def _members(db: Database, tenant: str, segment_id: str) -> list[str]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(memberships.c.profile_id).where(
                memberships.c.tenant_id == tenant,
                memberships.c.segment_id == segment_id,
                memberships.c.exited_at.is_(None),
            )
        )
        return sorted(rows.scalars())


async def test_a_fill_chunk_leaves_a_profile_claimed_by_live_evaluation_to_it(
    db: Database,
) -> None:
    """Live evaluation claimed p-1 and changed it while the chunk ran: the chunk read p-1
    before that change and must not write its stale decision (an entry, then an exit
    later: a journey started for nothing)."""
    tenant = f"shop-{uuid.uuid4().hex[:8]}"
    rich = {"total_spent": "9000"}
    await _profiles(db, tenant, {"p-1": rich, "p-2": rich, "p-3": {"total_spent": "10"}})
    definition = parse_definition({"trait": "total_spent", "op": ">=", "value": 5000})
    now = datetime.now(UTC)
    statement = bulk.fill_statement(definition, tenant, now, live=True)
    params = {**out.told(tenant, now), "chunk_lo": "", "chunk_hi": "p-9"}
    params |= {"fill_segment": "seg_new", "fill_reason": "created"}

    async with db.transaction() as live:
        await claims.claim(live, tenant, ["seg_new"], ["p-1"])
        filling = asyncio.create_task(_fill(db, statement, params))
        await asyncio.sleep(0.5)
        assert not filling.done()  # the chunk waits for the claim's transaction
        await live.execute(
            update(profiles)
            .where(profiles.c.tenant_id == tenant, profiles.c.profile_id == "p-1")
            .values(traits={"total_spent": "100"})
        )
    assert await filling == (1, 0)  # p-2 only
    assert await _members(db, tenant, "seg_new") == ["p-2"]
    assert [decode_event(r.payload).data.profile_id for r in await _outbox(db, tenant)] == ["p-2"]


async def test_live_evaluation_claiming_after_a_chunk_reads_what_the_chunk_wrote(
    db: Database,
) -> None:
    tenant = f"shop-{uuid.uuid4().hex[:8]}"
    await _profiles(db, tenant, {"p-1": {"total_spent": "9000"}})
    definition = parse_definition({"trait": "total_spent", "op": ">=", "value": 5000})
    now = datetime.now(UTC)
    statement = bulk.fill_statement(definition, tenant, now, live=True)
    params = {**out.told(tenant, now), "chunk_lo": "", "chunk_hi": "p-9"}
    params |= {"fill_segment": "seg_new", "fill_reason": "created"}
    async with db.transaction() as chunk:
        assert await bulk.fill_chunk(chunk, statement, params) == (1, 0)
        reading = asyncio.create_task(_claim_then_read(db, tenant))
        await asyncio.sleep(0.5)
        assert not reading.done()  # the claim waits for the chunk's transaction
    assert await reading == ["p-1"]  # and then sees its row


async def _fill(db: Database, statement: Any, params: dict[str, Any]) -> tuple[int, int]:
    async with db.transaction() as session:
        return await bulk.fill_chunk(session, statement, params)


async def _claim_then_read(db: Database, tenant: str) -> list[str]:
    async with db.transaction() as session:
        await claims.claim(session, tenant, ["seg_new"], ["p-1"])
        rows = await membership_repo.open_of(session, tenant, ["p-1"])
        return sorted(pid for pid, segments in rows.items() if "seg_new" in segments)
