"""``/v1/analytics``: overview, RFM and rank movement of a scripted shop, exact values.

The service runs with its clock pinned near NOW (2026-03-01T00:00Z, 09:00 in
Tokyo) and the refresher off, so recency, ranks and the month window are
fixed. Phase 1 (at NOW): five customers. Phase 2 (clock + 30 days): taro buys
again (B -> A) and mei arrives (C): rank movement reads the rank history.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from profile_events import NOW, T0, cancelled, customer, ident, new_tenant, order_data, refunded
from profile_it import apply, live_profiles, load_run_service, make_tenant, produce, until
from sqlalchemy import select

from crm_common.clock import OffsetFileClock
from crm_common.events import OrderPlaced
from crm_common.events.commerce import Attribution
from crm_profile.tables import rank_history

pytestmark = pytest.mark.infra

TARO = ident(email="taro@example.com")
HANA = ident(email="hana@example.com")
JIRO = ident(email="jiro@example.com")
KEN = ident(email="ken@example.com")
LEAD = ident(email="lead@example.com")
MEI = ident(email="mei@example.com")
THRESHOLDS = {
    "recency_days": [30, 60, 90, 180],
    "frequency_orders": [1, 2, 3, 5],
    "monetary": ["5000", "10000", "30000", "100000"],
    "currency": "JPY",
}


def _days(when: datetime) -> float:
    return (when - T0) / timedelta(days=1)


def _order(tenant: str, order_id: str, total: int, when: datetime, who: Any, **extra: Any) -> Any:
    days = _days(when)
    return OrderPlaced(
        event_id=f"{tenant}:{order_id}-placed",
        tenant_id=tenant,
        source="test",
        occurred_at=when,
        received_at=when,
        identity=who,
        data=order_data(order_id, total, days, **extra),
    )


def _phase_one(tenant: str) -> list[Any]:
    google = Attribution(utm_source="google", utm_medium="cpc")
    return [
        _order(tenant, "t-1", 3000, datetime(2026, 1, 6, 3, tzinfo=UTC), TARO, attribution=google),
        _order(tenant, "t-2", 5000, datetime(2026, 2, 24, 3, tzinfo=UTC), TARO),
        refunded(tenant, "t-2", "rf-1", 500, _days(datetime(2026, 2, 25, tzinfo=UTC))),
        _order(
            tenant,
            "h-1",
            2000,
            datetime(2026, 1, 8, 3, tzinfo=UTC),
            HANA,
            attribution=Attribution(referring_site="https://www.Google.com/search?q=tea"),
        ),
        _order(tenant, "j-1", 40000, datetime(2026, 1, 15, 3, tzinfo=UTC), JIRO),
        # 01:00 on 1 February in Tokyo: a February order for the tenant
        _order(tenant, "j-2", 12000, datetime(2026, 1, 31, 16, tzinfo=UTC), JIRO),
        _order(tenant, "j-3", 9000, datetime(2026, 1, 20, 3, tzinfo=UTC), JIRO),
        cancelled(tenant, "j-3", 9000, _days(datetime(2026, 1, 20, 3, tzinfo=UTC)), 1, JIRO),
        _order(
            tenant,
            "k-0",
            1000,
            datetime(2025, 3, 20, 3, tzinfo=UTC),  # before the 12-month window
            KEN,
            attribution=Attribution(utm_source="newsletter", utm_medium="email"),
        ),
        _order(tenant, "k-1", 6000, datetime(2025, 4, 10, 3, tzinfo=UTC), KEN),
        customer(tenant, "cu-lead", 2, LEAD),
    ]


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> OffsetFileClock:
    path = tmp_path_factory.mktemp("analytics-clock") / "offset"
    path.write_text(str((NOW - datetime.now(UTC)).total_seconds()))
    return OffsetFileClock(path)


@pytest.fixture(scope="module")
def analytics_service(lane: Any, clock: OffsetFileClock) -> Iterator[Any]:
    env = {"CRM_CLOCK_FILE": str(clock.path), "PROFILE_REFRESH": "false"}
    with load_run_service()("profile", lane, env) as svc:
        yield svc


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    return {}


def _client(world: dict[str, Any]) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=world["svc"].url, headers={"Authorization": f"Bearer {world['key']}"}
    )


async def _state(db: Any, tenant: str) -> list[tuple[Any, Any]]:
    rows = await live_profiles(db, tenant)
    return sorted((r.traits.get("orders_count"), r.traits.get("total_spent")) for r in rows)


async def test_phase_one_applied(world, analytics_service, profile_db, producer) -> None:
    tenant = new_tenant()
    world.update(tenant=tenant, key=await make_tenant(profile_db, tenant), svc=analytics_service)
    # Explicit thresholds (F cut points 1/2/3/5, not the defaults): the expected grid,
    # ranks and movements below were worked out with them.
    saved = await _client(world).put("/v1/settings/rfm", json=THRESHOLDS)
    assert saved.status_code == 200, saved.text
    await produce(producer, "crm.events.v1", _phase_one(tenant))
    # every event applied: the refund (7500), the cancellation (jiro 2 orders) and ken's both
    final = [(0, "0"), (1, "2000"), (2, "52000"), (2, "7000"), (2, "7500")]

    async def ready() -> bool:
        return await _state(profile_db, tenant) == final

    await until(ready)


async def test_overview_exact(world) -> None:
    response = await _client(world).get("/v1/analytics/overview")
    assert response.status_code == 200, response.text
    body = response.json()
    months = body.pop("revenue_by_month")
    assert body == {
        "currency": "JPY",
        "customers": 5,
        "buyers": 4,
        "repeat_buyers": 3,
        "f2_conversion_rate": 0.75,
        "average_ltv": "17125",
        "ltv_by_source": [
            {"source": "(direct)", "customers": 1, "average_ltv": "52000", "revenue": "52000"},
            {"source": "google / cpc", "customers": 1, "average_ltv": "7500", "revenue": "7500"},
            {
                "source": "newsletter / email",
                "customers": 1,
                "average_ltv": "7000",
                "revenue": "7000",
            },
            {"source": "www.google.com", "customers": 1, "average_ltv": "2000", "revenue": "2000"},
        ],
    }
    expected = {"2025-04": ("6000", 1), "2026-01": ("45000", 3), "2026-02": ("16500", 2)}
    labels = [f"2025-{m:02d}" for m in range(4, 13)] + ["2026-01", "2026-02", "2026-03"]
    got = [(m["month"], m["revenue"], m["orders"]) for m in months]
    assert got == [(m, *expected.get(m, ("0", 0))) for m in labels]


async def test_rfm_exact(world) -> None:
    body = (await _client(world).get("/v1/analytics/rfm")).json()
    filled = {(5, 3): (2, "59500"), (4, 2): (1, "2000"), (1, 3): (1, "7000")}
    assert body["grid"] == [
        {"r": r, "f": f, "customers": filled.get((r, f), (0, "0"))[0],
         "revenue": filled.get((r, f), (0, "0"))[1]}
        for r in range(1, 6)
        for f in range(1, 6)
    ]  # fmt: skip
    assert body["ranks"] == [
        {"rank": "A", "customers": 0, "revenue": "0"},
        {"rank": "B", "customers": 2, "revenue": "59500"},
        {"rank": "C", "customers": 1, "revenue": "2000"},
        {"rank": "D", "customers": 1, "revenue": "7000"},
        {"rank": "E", "customers": 0, "revenue": "0"},
    ]
    assert body["thresholds"] == THRESHOLDS


async def test_phase_two_rank_movement(world, profile_db, producer, clock) -> None:
    tenant = world["tenant"]
    clock.advance(timedelta(days=30))
    later = datetime(2026, 3, 30, 3, tzinfo=UTC)
    await produce(
        producer,
        "crm.events.v1",
        [_order(tenant, "t-3", 100000, later, TARO), _order(tenant, "m-1", 3000, later, MEI)],
    )
    final = [(0, "0"), (1, "2000"), (1, "3000"), (2, "52000"), (2, "7000"), (3, "107500")]

    async def ready() -> bool:
        return await _state(profile_db, tenant) == final

    await until(ready)
    client = _client(world)

    async def moves(since: str) -> list[tuple[Any, Any, int]]:
        response = await client.get("/v1/analytics/rank-movement", params={"since": since})
        assert response.status_code == 200, response.text
        assert response.json()["since"] == since
        return [(m["from_rank"], m["to_rank"], m["customers"]) for m in response.json()["moves"]]

    # before any rank was known: everyone arrives from "no rank"
    assert await moves("2026-02-01") == [
        (None, "A", 1),
        (None, "B", 1),
        (None, "C", 2),
        (None, "D", 1),
    ]
    # between the phases: taro B -> A, mei new in C, the others stayed
    assert await moves("2026-03-15") == [
        (None, "C", 1),
        ("B", "A", 1),
        ("B", "B", 1),
        ("C", "C", 1),
        ("D", "D", 1),
    ]
    assert await moves("2026-04-01") == [("A", "A", 1), ("B", "B", 1), ("C", "C", 2), ("D", "D", 1)]


async def test_errors_in_the_one_shape(world) -> None:
    client = _client(world)
    bad = await client.get("/v1/analytics/rank-movement", params={"since": "yesterday"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["path"] == "query.since"
    anonymous = await httpx.AsyncClient(base_url=world["svc"].url).get("/v1/analytics/overview")
    assert anonymous.status_code == 401
    assert set(anonymous.json()["error"]) == {"code", "message", "details"}


async def test_rank_history_of_a_merge_is_the_survivors(profile_db) -> None:
    """Only rank changes are written; the record merged away loses its rows."""
    tenant = new_tenant()
    await make_tenant(profile_db, tenant)
    x, y = ident(email="x@example.com"), ident(phone="090-1111-2222")
    hour = timedelta(hours=1)
    x_order = _order(tenant, "x-1", 3000, datetime(2026, 2, 20, 3, tzinfo=UTC), x)
    await apply(profile_db, tenant, [x_order], now=NOW)  # C
    await apply(profile_db, tenant, [x_order], now=NOW + hour / 2)  # nothing changed: no row
    y_order = _order(tenant, "y-1", 60000, datetime(2026, 2, 21, 3, tzinfo=UTC), y)
    await apply(profile_db, tenant, [y_order], now=NOW + hour)  # B
    [older, newer] = sorted(await live_profiles(profile_db, tenant), key=lambda r: r.created_at)
    assert await _history(profile_db, tenant) == {
        older.profile_id: [("C", NOW)],
        newer.profile_id: [("B", NOW + hour)],
    }
    both = customer(tenant, "cu-xy", 60, ident(email="x@example.com", phone="090-1111-2222"))
    await apply(profile_db, tenant, [both], now=NOW + 2 * hour)  # merged: 63000 over 2 orders
    assert await _history(profile_db, tenant) == {
        older.profile_id: [("C", NOW), ("B", NOW + 2 * hour)]
    }


async def _history(db: Any, tenant: str) -> dict[str, list[tuple[str | None, datetime]]]:
    h = rank_history.c
    out: dict[str, list[tuple[str | None, datetime]]] = {}
    async with db.transaction() as session:
        rows = await session.execute(
            select(h.profile_id, h.rank, h.valid_from)
            .where(h.tenant_id == tenant)
            .order_by(h.profile_id, h.valid_from)
        )
        for r in rows:
            out.setdefault(r.profile_id, []).append((r.rank, r.valid_from))
    return out
