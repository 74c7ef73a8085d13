"""Time-dependent traits stay true while the customer does nothing.

The service runs with an injectable clock (``CRM_CLOCK_FILE``) and a refresher
ticking every second; moving the clock 15 days forward must republish the
snapshot of a customer with orders (recency 5 -> 4) and leave a customer
without orders alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from profile_events import T0, customer, ident, new_tenant, placed
from profile_it import TopicReader, load_run_service, make_tenant, produce, until
from sqlalchemy import select

from crm_common.clock import OffsetFileClock
from crm_profile.tables import profiles

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> OffsetFileClock:
    path = tmp_path_factory.mktemp("clock") / "offset"
    path.write_text("0")
    return OffsetFileClock(path)


@pytest.fixture(scope="module")
def refreshing_service(lane: Any, clock: OffsetFileClock) -> Iterator[Any]:
    env = {
        "CRM_CLOCK_FILE": str(clock.path),
        "PROFILE_REFRESH_SECONDS": "1",
        "PROFILE_REFRESH_MAX_AGE_SECONDS": "2",
    }
    with load_run_service()("profile", lane, env) as svc:
        yield svc


def _changes(records: list[tuple[str, dict[str, Any]]], profile_id: str) -> list[dict[str, Any]]:
    return [
        b["data"]
        for _, b in records
        if b["type"] == "profile.changed" and b["data"]["profile_id"] == profile_id
    ]


async def _computed_at(db: Any, tenant: str, profile_id: str) -> Any:
    p = profiles
    async with db.transaction() as session:
        return await session.scalar(
            select(p.c.traits_computed_at).where(
                p.c.tenant_id == tenant, p.c.profile_id == profile_id
            )
        )


async def test_recency_decays_while_the_customer_does_nothing(
    refreshing_service, clock, lane, profile_db, producer
) -> None:
    tenant = new_tenant()
    key = await make_tenant(profile_db, tenant)
    twenty_days_ago = (clock.now() - timedelta(days=20) - T0) / timedelta(days=1)
    buyer, idle = ident(email="buyer@example.com"), ident(email="idle@example.com")
    events = [placed(tenant, "o-1", 30000, twenty_days_ago, buyer), customer(tenant, "c", 0, idle)]
    await produce(producer, "crm.events.v1", events)
    async with TopicReader(lane, "crm.profiles.v1", tenant) as reader:

        async def both_published() -> list[dict[str, Any]]:
            changed = [b["data"] for _, b in await reader.poll() if b["type"] == "profile.changed"]
            return changed if len({c["profile_id"] for c in changed}) == 2 else []

        first = await until(both_published, timeout=60)
        bought = next(c for c in first if c["traits"].get("orders_count") == 1)
        quiet = next(c for c in first if c["traits"].get("orders_count") != 1)
        assert bought["traits"]["days_since_last_order"] == 20
        assert bought["traits"]["rfm_recency"] == 5
        assert bought["traits"]["rfm_rank"] == "B"  # 5 + 1 + 4

        clock.advance(timedelta(days=15))

        async def refreshed() -> dict[str, Any] | None:
            later = _changes(await reader.poll(), bought["profile_id"])
            return next((c for c in later if c["traits"]["rfm_recency"] == 4), None)

        event = await until(refreshed, timeout=20)
        assert event["version"] > bought["version"]
        assert event["traits"]["days_since_last_order"] == 35
        assert event["traits"]["rfm_rank"] == "C"  # 4 + 1 + 4

        async with httpx.AsyncClient(
            base_url=refreshing_service.url, headers={"X-Api-Key": key}
        ) as client:
            view = (await client.get(f"/v1/profiles/{bought['profile_id']}")).json()
        assert view["version"] == event["version"]
        assert view["traits"] == event["traits"]

        # One more full refresher pass after the republish: the idle customer
        # (no orders, no subscriptions) was never due, so never republished.
        seen = await _computed_at(profile_db, tenant, bought["profile_id"])

        async def another_pass() -> bool:
            return bool(await _computed_at(profile_db, tenant, bought["profile_id"]) > seen)

        await until(another_pass, timeout=20)
        assert [c["version"] for c in _changes(await reader.poll(), quiet["profile_id"])] == [1]
