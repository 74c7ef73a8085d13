"""Fills are background jobs: the create answers at once, live evaluation of the
tenant goes on while the job fills, and the segment is exact when it is done.

Against the running service (chunks of 5,000 profiles, two at a time), with 12,000
profiles written straight into the read model so the fill takes several chunks.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
from segment_it import Shop, TopicLog, new_shop, until
from sqlalchemy import func, select, text

from crm_common.clock import OffsetFileClock
from crm_common.db import Database
from crm_common.kafka import Producer
from crm_segment.repository import claims
from crm_segment.tables import profiles

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]

COUNT = 12_000
RICH = {"trait": "total_spent", "op": ">=", "value": 6000}
OSAKA = {"name": "osaka", "definition": {"trait": "prefecture", "op": "=", "value": "大阪府"}}
# As RICH, but each profile's 640-character note is searched 60 times: the fill
# takes a few seconds, long enough for live changes to arrive while it runs.
SLOW_RICH = {
    "all": [
        RICH,
        {
            "not": {
                "any": [{"trait": "note", "op": "contains", "value": f"zz{i}"} for i in range(60)]
            }
        },
    ]
}


async def _bulk_profiles(db: Database, tenant_id: str) -> None:
    """Profiles ``b00000`` .. with total_spent 0, 1, ... (half of them 6,000 or more)."""
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO segment.profiles (tenant_id, profile_id, traits, version, updated_at)"
                " SELECT :t, 'b' || lpad(n::text, 5, '0'),"
                " jsonb_build_object('total_spent', n::text, 'note', repeat(md5(n::text), 20)),"
                " 1, now()"
                " FROM generate_series(0, :last) AS n"
            ),
            {"t": tenant_id, "last": COUNT - 1},
        )


def _spent(profile_id: str) -> int:
    return int(profile_id[1:])


def _traits(profile_id: str, **changed: str) -> dict[str, str]:
    """A bulk profile's traits (as :func:`_bulk_profiles` wrote them), some changed."""
    n = profile_id[1:].lstrip("0") or "0"
    note = hashlib.md5(n.encode()).hexdigest() * 20  # as the SQL md5(n::text)
    return {"total_spent": n, "note": note} | changed


@asynccontextmanager
async def _chunk_held(
    db: Database, tenant_id: str, segment_id: str, profile_id: str
) -> AsyncIterator[None]:
    """Claim ``profile_id`` for the segment in a transaction kept open (and rolled back
    when the block ends), and enter the block once a fill chunk waits for that claim:
    the chunk has read its profiles and memberships and has written nothing yet."""
    async with db.sessions() as holder:
        await claims.claim(holder, tenant_id, [segment_id], [profile_id])
        holder_pid = await holder.scalar(text("SELECT pg_backend_pid()"))

        async def chunk_waiting() -> bool:
            async with db.transaction() as session:
                waiting = await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE CAST(:holder AS integer) = ANY(pg_blocking_pids(pid))"
                    ),
                    {"holder": holder_pid},
                )
                return bool(waiting)

        await until(chunk_waiting, timeout=120, what=f"a fill chunk waiting to claim {profile_id}")
        try:
            yield
        finally:
            await holder.rollback()


async def test_live_changes_during_a_fill_are_decided_once_and_the_fill_is_exact(
    shop: Shop, db: Database, clock: OffsetFileClock, segment_events: TopicLog
) -> None:
    """Every live change lands while the second chunk (b05000..b09999) is being
    computed: the chunk has read the old traits, and is held (by a claim on b06000, its
    first member) before it writes until every change is applied; then it goes on.
    CI once saw that chunk enter the profiles that had just left (live evaluation took
    no claims: the catalog never listed the filling segment). Other profiles of the
    chunk change only what another segment reads: live evaluation claims them for the
    filling segment too, so it must decide that segment for them as well."""
    await _bulk_profiles(db, shop.tenant_id)
    osaka = await shop.finished(await shop.http.post("/v1/segments", json=OSAKA))
    created = await shop.http.post("/v1/segments", json={"name": "rich", "definition": SLOW_RICH})
    assert created.status_code == 202, created.text
    segment_id, job_id = created.json()["id"], created.json()["job"]["id"]
    assert created.json()["size"] == 0

    async with _chunk_held(db, shop.tenant_id, segment_id, "b06000"):
        # While the chunk waits: profiles on both sides of the threshold, in every
        # chunk, cross it (each change flips the profile's membership), some of them
        # twice.
        flipped = [f"b{n:05d}" for n in range(37, COUNT, 400)]
        now = clock.now()
        changes = []
        for pid in flipped:
            crossed = "100" if _spent(pid) >= 6000 else "9000"
            shop.versions[pid] = 1  # the bulk rows are version 1
            changes.append(shop.changed(pid, _traits(pid, total_spent=crossed), now))
        twice = flipped[::3]
        changes += [shop.changed(pid, _traits(pid), now) for pid in twice]
        moved = [f"b{n:05d}" for n in range(6100, 10_000, 1000)]  # members, not flipped
        for pid in moved:
            shop.versions[pid] = 1
            changes.append(shop.changed(pid, _traits(pid, prefecture="大阪府"), now))
        await shop.publish(changes)
        final = {pid: 2 for pid in flipped + moved} | {pid: 3 for pid in twice}

        async def applied() -> bool:
            async with db.transaction() as session:
                rows = await session.execute(
                    select(profiles.c.profile_id, profiles.c.version).where(
                        profiles.c.tenant_id == shop.tenant_id, profiles.c.version > 1
                    )
                )
                return dict(rows.all()) == final

        await until(applied, timeout=120, what="every live change applied")
        running = (await shop.http.get(f"/v1/segment-jobs/{job_id}")).json()
        assert (running["state"], running["progress"]["done"]) == ("running", 0), running

    job = await shop.job_done(job_id)
    assert (job["state"], job["progress"]["done"], job["progress"]["total"]) == (
        "done",
        COUNT,
        COUNT,
    )
    async with db.transaction() as session:  # the service's clock (the test's file clock)
        first_applied = await session.scalar(
            select(func.min(profiles.c.updated_at)).where(
                profiles.c.tenant_id == shop.tenant_id, profiles.c.version > 1
            )
        )
    finished = datetime.fromisoformat(job["finished_at"])
    assert first_applied < finished, "live evaluation waited for the whole fill"
    verified = (await shop.http.get(f"/v1/segments/{segment_id}/verify")).json()
    assert (verified["missing"], verified["extra"]) == ([], [])
    expected = {f"b{n:05d}" for n in range(6000, COUNT)} ^ (set(flipped) - set(twice))
    assert (await shop.http.get(f"/v1/segments/{segment_id}")).json()["size"] == len(expected)
    osaka_members = (await shop.http.get(f"/v1/segments/{osaka['id']}/members")).json()
    assert sorted(m["profile_id"] for m in osaka_members["members"]) == moved

    # Every member was told once that it entered, and an exit always follows an entry.
    async def told() -> dict[str, list[str]]:
        history: dict[str, list[str]] = defaultdict(list)
        for event in segment_events.of(shop.tenant_id):
            if event.data.segment_id == segment_id:
                history[event.data.profile_id].append(event.type.split(".")[1])
        return history

    async def all_told() -> bool:
        history = await told()
        return {p for p, h in history.items() if h[-1] == "entered"} == expected

    await until(all_told, timeout=120, what="the fill and the live changes told")
    for pid, history in (await told()).items():
        assert history[0] == "entered", (pid, history)
        assert all(a != b for a, b in itertools.pairwise(history)), (pid, history)


async def test_an_edit_during_a_fill_cancels_it_and_refills(shop: Shop, db: Database) -> None:
    await _bulk_profiles(db, shop.tenant_id)
    created = await shop.http.post("/v1/segments", json={"name": "rich", "definition": RICH})
    segment_id = created.json()["id"]
    narrower = {"trait": "total_spent", "op": ">=", "value": 11_000}
    edited = await shop.http.patch(f"/v1/segments/{segment_id}", json={"definition": narrower})
    assert edited.status_code == 202, edited.text
    first = await shop.job_done(created.json()["job"]["id"])
    assert first["state"] == "cancelled"
    second = await shop.job_done(edited.json()["job"]["id"])
    assert (second["state"], second["reason"]) == ("done", "edited")
    segment = (await shop.http.get(f"/v1/segments/{segment_id}")).json()
    assert (segment["size"], segment["job"]["id"]) == (1000, second["id"])
    verified = (await shop.http.get(f"/v1/segments/{segment_id}/verify")).json()
    assert verified["exact"] is True


async def test_a_job_is_its_tenants_only(
    shop: Shop, segment_service: Any, producer: Producer
) -> None:
    created = await shop.http.post("/v1/segments", json={"name": "rich", "definition": RICH})
    job_id = created.json()["job"]["id"]
    assert (await shop.http.get(f"/v1/segment-jobs/{job_id}")).status_code == 200
    missing = await shop.http.get("/v1/segment-jobs/job_nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    other = await new_shop(segment_service.url, producer)
    try:
        refused = await other.http.get(f"/v1/segment-jobs/{job_id}")
        assert refused.status_code == 404, refused.text
    finally:
        await other.http.aclose()
