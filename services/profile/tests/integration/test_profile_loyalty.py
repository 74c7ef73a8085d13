"""Loyalty against the running service: orders earn points by rank and campaign,
refunds and cancellations reverse them, a cart redeems through the API (idempotent,
never below the balance), points and ranks move as time passes, birthdays grant
points once, and every change leaves as profile.changed / rank.changed.

The service reads a clock file set to T0 + 100 days, so every amount is exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from profile_events import T0, at, cancelled, customer, ident, new_tenant, placed, refunded
from profile_it import TopicReader, load_run_service, make_tenant, produce, until
from sqlalchemy import func, select

from crm_common.clock import OffsetFileClock
from crm_profile.tables import points_entries, profiles

pytestmark = pytest.mark.infra
START = T0 + timedelta(days=100)  # 2026-04-15 12:00 in Tokyo

RULES = {
    "effective_from": (T0 - timedelta(days=1)).isoformat(),
    "ranks": [
        {"name": "ブロンズ", "min_orders": 1, "points_rate": "0.01"},
        {"name": "ゴールド", "min_spend": "30000", "points_rate": "0.03"},
    ],
    "campaigns": [
        {
            "name": "ポイント2倍",
            "starts_at": at(10).isoformat(),
            "ends_at": at(11).isoformat(),
            "multiplier": "2",
        }
    ],
    "return_window_days": 14,
    "expire_after_days": 365,
    "expiring_soon_days": 30,
    "birthday_points": 500,
}


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> OffsetFileClock:
    path = tmp_path_factory.mktemp("clock") / "offset"
    path.write_text(str((START - datetime.now(UTC)).total_seconds()))
    return OffsetFileClock(path)


@pytest.fixture(scope="module")
def service(lane: Any, clock: OffsetFileClock) -> Iterator[Any]:
    env = {
        "CRM_CLOCK_FILE": str(clock.path),
        "PROFILE_REFRESH_SECONDS": "1",
        "PROFILE_REFRESH_MAX_AGE_SECONDS": "2",
    }
    with load_run_service()("profile", lane, env) as svc:
        yield svc


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    return {}


def _client(world: dict[str, Any], key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key or world['key']}"}
    return httpx.AsyncClient(base_url=world["url"], headers=headers)


async def _traits(db: Any, tenant: str) -> dict[str, dict[str, Any]]:
    p = profiles
    async with db.transaction() as session:
        rows = await session.execute(
            select(p.c.profile_id, p.c.traits).where(
                p.c.tenant_id == tenant, p.c.merged_into.is_(None)
            )
        )
        return {r.profile_id: r.traits for r in rows}


async def test_orders_earn_by_rank_and_campaign_and_reversals_take_back(
    world, service, lane, profile_db, producer
) -> None:
    tenant = new_tenant()
    key = await make_tenant(profile_db, tenant)
    world.update(tenant=tenant, key=key, url=service.url)
    async with _client(world) as client:
        answer = await client.put("/v1/settings/loyalty", json=RULES)
        assert answer.status_code == 200, answer.text
        got = (await client.get("/v1/settings/loyalty")).json()
    assert got["current"]["ranks"][1] == {
        "name": "ゴールド",
        "min_spend": "30000",
        "min_orders": 0,
        "points_rate": "0.03",
    }
    buyer = ident(email="buyer@example.com")
    born = ident(email="born@example.com")
    today_in_tokyo = date(1990, 4, 15)
    events = [
        placed(tenant, "o1", 20000, 0, buyer),
        placed(tenant, "o2", 15000, 10.5, buyer),  # in the x2 campaign
        placed(tenant, "o3", 10000, 20, buyer),
        refunded(tenant, "o3", "rf1", 4000, 25),
        placed(tenant, "o4", 5000, 30, buyer),
        cancelled(tenant, "o4", 5000, 30, 1, buyer),
        customer(tenant, "born", 0, born, birthday=today_in_tokyo),
    ]
    await produce(producer, "crm.events.v1", events)

    async def earned() -> dict[str, Any] | None:
        found = await _traits(profile_db, tenant)
        return next((t for t in found.values() if t.get("orders_count") == 3), None)

    traits = await until(earned, timeout=90)
    # o1 200 (no rank yet), o2 150 x2 (ブロンズ), o3 300 - 120 (ゴールド, refunded 4,000),
    # o4 150 - 150 (cancelled)
    assert traits["points_balance"] == 680
    assert traits["points_pending"] == 0
    assert traits["member_rank"] == "ゴールド"
    assert traits["member_rank_spend"] == "41000"
    assert traits["member_rank_direction"] == "up"  # a rank-up journey's entry condition
    found = await _traits(profile_db, tenant)
    pid = next(p for p, t in found.items() if t.get("orders_count") == 3)
    world["buyer"] = pid
    async with _client(world) as client:
        view = (await client.get(f"/v1/profiles/{pid}/points")).json()
    lines = [(ln["kind"], ln["points"], ln["order_id"]) for ln in reversed(view["ledger"])]
    assert lines == [
        ("earn", 200, "o1"),
        ("earn", 300, "o2"),
        ("earn", 300, "o3"),
        ("reverse", -120, "o3"),
        ("earn", 150, "o4"),
        ("reverse", -150, "o4"),
    ]
    assert (view["balance"], view["member_rank"]) == (680, "ゴールド")

    async with TopicReader(lane, "crm.profiles.v1", tenant) as reader:

        async def ranked() -> list[dict[str, Any]]:
            return [
                b["data"]["data"]
                for _, b in await reader.poll()
                if b["type"] == "profile.activity" and b["data"]["source_type"] == "rank.changed"
            ]

        changes = await until(ranked, timeout=30)
    assert changes[-1]["rank"] == "ゴールド" and changes[-1]["direction"] == "up"
    assert changes[-1]["profile_id"] == pid


async def test_a_cart_redeems_idempotently_and_never_below_the_balance(world, lane) -> None:
    pid = world["buyer"]
    async with _client(world) as client:
        too_much = await client.post(
            f"/v1/profiles/{pid}/points/use", json={"key": "u1", "points": 700}
        )
        assert too_much.status_code == 409
        assert too_much.json()["error"]["code"] == "insufficient_points"
        assert too_much.json()["error"]["details"][0]["balance"] == 680
        use = {"key": "u1", "points": 500, "order_id": "cart-9"}
        first = await client.post(f"/v1/profiles/{pid}/points/use", json=use)
        again = await client.post(f"/v1/profiles/{pid}/points/use", json=use)
        assert (first.status_code, again.status_code) == (200, 200)
        assert (first.json()["balance"], again.json()["balance"]) == (180, 180)
        assert again.json()["replayed"] is True
        reused = await client.post(
            f"/v1/profiles/{pid}/points/use", json={"key": "u1", "points": 400}
        )
        assert reused.status_code == 409
        assert reused.json()["error"]["code"] == "idempotency_key_reused"
        grant = await client.post(
            f"/v1/profiles/{pid}/points/grant", json={"key": "g1", "points": 1000}
        )
        assert grant.json()["balance"] == 1180
        adjust = await client.post(
            f"/v1/profiles/{pid}/points/adjust", json={"key": "a1", "points": -80, "reason": "x"}
        )
        assert adjust.json()["balance"] == 1100
        timeline = (await client.get(f"/v1/profiles/{pid}/timeline")).json()["items"]
        points = [(i["type"], i["summary"]) for i in timeline if i["type"].startswith("points.")]
        assert points[-1] == ("points.use", {"points": 500, "order_id": "cart-9"})
        assert len(points) == 3  # use, grant, adjust: the replayed use is not repeated
        assert any(i["type"] == "rank.changed" for i in timeline)
        zero = await client.post(
            f"/v1/profiles/{pid}/points/adjust", json={"key": "a2", "points": 0}
        )
        assert zero.status_code == 422
        assert zero.json()["error"]["details"][0]["path"] == "body.points"

    async with TopicReader(lane, "crm.profiles.v1", world["tenant"]) as reader:

        async def published() -> bool:
            records = await reader.poll()
            changed = [
                b["data"]["traits"]
                for _, b in records
                if b["type"] == "profile.changed" and b["data"]["profile_id"] == pid
            ]
            return bool(changed) and changed[-1].get("points_balance") == 1100

        await until(published, timeout=30)


async def test_points_are_tenant_scoped_and_need_a_key(world, profile_db) -> None:
    other = new_tenant()
    other_key = await make_tenant(profile_db, other)
    pid = world["buyer"]
    async with _client(world, other_key) as client:
        assert (await client.get(f"/v1/profiles/{pid}/points")).status_code == 409  # no programme
        await client.put("/v1/settings/loyalty", json={"birthday_points": 0})
        stranger = await client.post(
            f"/v1/profiles/{pid}/points/grant", json={"key": "g1", "points": 5}
        )
        assert stranger.status_code == 404
        assert set(stranger.json()["error"]) >= {"code", "message"}
    async with httpx.AsyncClient(base_url=world["url"]) as anonymous:
        answer = await anonymous.post(
            f"/v1/profiles/{pid}/points/grant", json={"key": "g9", "points": 5}
        )
        assert answer.status_code == 401
    async with _client(world) as client:
        bad = await client.put(
            "/v1/settings/loyalty", json={"ranks": [{"name": "A"}, {"name": "A"}]}
        )
        assert bad.status_code == 422


async def test_birthday_points_are_granted_once(world, profile_db) -> None:
    tenant = world["tenant"]

    async def birthday() -> dict[str, Any] | None:
        found = await _traits(profile_db, tenant)
        return next((t for t in found.values() if t.get("birthday_month") == 4), None)

    async def granted() -> bool:
        traits = await birthday()
        return traits is not None and traits.get("points_balance") == 500

    await until(granted, timeout=60)
    e = points_entries

    async def count() -> int:
        async with profile_db.transaction() as session:
            return int(
                await session.scalar(
                    select(func.count()).where(
                        e.c.tenant_id == tenant, e.c.entry_key.like("birthday:%")
                    )
                )
                or 0
            )

    seen = await _computed_passes(profile_db, tenant, 3)
    assert seen and await count() == 1


async def _computed_passes(db: Any, tenant: str, passes: int) -> bool:
    """Wait until the refresher (and so the birthday sweep) ran ``passes`` more times."""
    p = profiles

    async def latest() -> Any:
        async with db.transaction() as session:
            return await session.scalar(
                select(func.max(p.c.traits_computed_at)).where(p.c.tenant_id == tenant)
            )

    for _ in range(passes):
        before = await latest()

        async def moved(before: Any = before) -> bool:
            return bool(await latest() > before)

        await until(moved, timeout=30)
    return True


async def test_points_expire_and_ranks_fall_as_time_passes(world, clock, lane, profile_db) -> None:
    pid, tenant = world["buyer"], world["tenant"]
    clock.advance(timedelta(days=297))  # day 397: o3's lot (100 left) expires on day 399

    async def traits_of() -> dict[str, Any]:
        return (await _traits(profile_db, tenant))[pid]

    async def soon() -> dict[str, Any] | None:
        traits = await traits_of()
        return traits if traits.get("points_expiring_soon") == 100 else None

    traits = await until(soon, timeout=30)
    assert traits["points_balance"] == 1100
    assert traits["member_rank"] is None  # no order in the last 365 days
    assert (traits["member_rank_previous"], traits["member_rank_direction"]) == ("ゴールド", "down")
    clock.advance(timedelta(days=3))

    async def expired() -> dict[str, Any] | None:
        traits = await traits_of()
        return traits if traits.get("points_balance") == 1000 else None

    traits = await until(expired, timeout=30)
    assert traits["points_expiring_soon"] == 0
    async with _client(world) as client:
        view = (await client.get(f"/v1/profiles/{pid}/points")).json()
    assert (view["expired"], view["ledger"][0]["kind"], view["ledger"][0]["points"]) == (
        100,
        "expire",
        -100,
    )
    async with TopicReader(lane, "crm.profiles.v1", tenant) as reader:

        async def fell() -> list[dict[str, Any]]:
            return [
                b["data"]["data"]
                for _, b in await reader.poll()
                if b["type"] == "profile.activity"
                and b["data"]["source_type"] == "rank.changed"
                and b["data"]["data"]["direction"] == "down"
            ]

        down = await until(fell, timeout=30)
    assert down[-1]["previous_rank"] == "ゴールド" and down[-1]["rank"] is None
