"""The generic cart API: one event, batches with partial rejections, auth, rate limit."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from ingest_it import ADMIN, create_tenant, events_of, placed_id

pytestmark = pytest.mark.infra


def _order(client_id: str, total: Any = "5400", **data: Any) -> dict[str, Any]:
    return {
        "event_id": client_id,
        "type": "order.placed",
        "occurred_at": "2024-06-01T10:00:00+09:00",
        "identity": {"email": "Hanako@Example.JP", "external_ids": {"makeshop": "m-1"}},
        "data": {
            "order_id": f"o-{client_id}",
            "placed_at": "2024-06-01T10:00:00+09:00",
            "currency": "JPY",
            "total": total,
            "kind": "定期",
            "lines": [],
            **data,
        },
    }


def _auth(tenant: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant['api_key']}"}


async def test_single_event_is_accepted_once(ingest, infra) -> None:
    tenant = create_tenant(ingest.url)
    tid, url = tenant["tenant_id"], f"{ingest.url}/v1/events"
    headers = {**_auth(tenant), "X-Cart-Platform": "makeshop"}
    canonical = placed_id(tid, "o-c-1", "makeshop")

    first = httpx.post(url, json=_order("c-1"), headers=headers)
    again = httpx.post(url, json=_order("c-1"), headers=headers)
    invalid = httpx.post(url, json=_order("c-2", total="lots"), headers=headers)
    anonymous = httpx.post(url, json=_order("c-3"))

    assert (first.status_code, first.json()) == (202, {"event_id": canonical, "status": "accepted"})
    assert (again.status_code, again.json()) == (
        202,
        {"event_id": canonical, "status": "duplicate"},
    )
    assert invalid.status_code == 422
    assert invalid.json()["error"]["details"] == [
        {"path": "data.total", "message": "Input should be a valid decimal"}
    ]
    assert anonymous.status_code == 401
    (event,) = await events_of(infra, tid, lambda es: len(es) >= 1)
    assert (event.event_id, event.type, event.source) == (canonical, "order.placed", "makeshop")
    assert (event.identity.email, event.data.kind, str(event.data.total)) == (
        "hanako@example.jp",
        "subscription",
        "5400",
    )


async def test_batch_reports_per_index_and_accepts_the_valid_ones(ingest, infra) -> None:
    tenant = create_tenant(ingest.url)
    tid = tenant["tenant_id"]
    events = [_order("b-1"), _order("b-2", total="lots", lines=None), _order("b-1"), _order("b-3")]
    body = {"source": "futureshop", "events": events}

    response = httpx.post(f"{ingest.url}/v1/events/batch", json=body, headers=_auth(tenant))

    ids = {c: placed_id(tid, f"o-{c}", "futureshop") for c in ("b-1", "b-3")}
    assert response.status_code == 207
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": 2,
        "results": [
            {"index": 0, "status": "accepted", "event_id": ids["b-1"]},
            {
                "index": 1,
                "status": "rejected",
                "errors": [
                    {"path": "data.total", "message": "Input should be a valid decimal"},
                    {"path": "data.lines", "message": "Input should be a valid list"},
                ],
            },
            {
                "index": 2,
                "status": "rejected",
                "errors": [{"path": "event_id", "message": "Duplicate of the event at index 0"}],
            },
            {"index": 3, "status": "accepted", "event_id": ids["b-3"]},
        ],
    }
    retry = httpx.post(f"{ingest.url}/v1/events/batch", json=body, headers=_auth(tenant)).json()
    assert [r["status"] for r in retry["results"]] == [
        "duplicate",
        "rejected",
        "rejected",
        "duplicate",
    ]
    on_topic = await events_of(infra, tid, lambda es: len(es) >= 2)
    assert sorted(e.event_id for e in on_topic) == sorted(ids.values())
    assert {e.source for e in on_topic} == {"futureshop"}


async def test_one_order_under_two_client_ids_is_one_order(ingest, infra) -> None:
    """A cart that re-sends an order under a new client id (a retry queue that lost
    its ids, a re-sync) tells the same placement: one order.placed; a changed order
    sent as order.placed again is the order's new state, published as order.updated."""
    tenant = create_tenant(ingest.url)
    tid, url = tenant["tenant_id"], f"{ingest.url}/v1/events"
    headers = {**_auth(tenant), "X-Cart-Platform": "makeshop"}
    first = _order("sync-1", order_id="A-100")
    resent = _order("sync-2", order_id="A-100")
    changed = _order(
        "sync-3", total="4900", order_id="A-100", updated_at="2024-06-02T10:00:00+09:00"
    )

    answers = [httpx.post(url, json=item, headers=headers).json() for item in (first, resent)]
    batch = httpx.post(
        f"{url}/batch", json={"events": [resent, changed, changed]}, headers=headers
    ).json()

    placed = placed_id(tid, "A-100", "makeshop")
    assert answers == [
        {"event_id": placed, "status": "accepted"},
        {"event_id": placed, "status": "duplicate"},
    ]
    assert [r["status"] for r in batch["results"]] == ["duplicate", "accepted", "rejected"]
    on_topic = await events_of(infra, tid, lambda es: len(es) >= 2)
    assert sorted((e.type, str(e.data.total)) for e in on_topic) == [
        ("order.placed", "5400"),
        ("order.updated", "4900"),
    ]
    assert batch["results"][1]["event_id"] == next(
        e.event_id for e in on_topic if e.type == "order.updated"
    )

    too_many = {"events": [_order(f"x-{i}") for i in range(1001)]}
    over = httpx.post(f"{ingest.url}/v1/events/batch", json=too_many, headers=_auth(tenant))
    assert (over.status_code, over.json()["error"]["code"]) == (413, "batch_too_large")


async def test_revoked_api_key_is_refused(ingest) -> None:
    tenant = create_tenant(ingest.url)
    base = f"{ingest.url}/admin/tenants/{tenant['tenant_id']}/api-keys"

    revoke = httpx.delete(f"{base}/{tenant['api_key_id']}", headers=ADMIN)
    refused = httpx.post(f"{ingest.url}/v1/events", json=_order("k-1"), headers=_auth(tenant))

    assert revoke.status_code == 204
    assert (refused.status_code, refused.json()["error"]["message"]) == (
        401,
        "unknown or revoked API key",
    )


async def test_rate_limit_answers_429_with_retry_after(ingest) -> None:
    tenant = create_tenant(ingest.url, rate_limit_per_second=3)

    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(
            *(
                client.post(f"{ingest.url}/v1/events", json=_order(f"r-{i}"), headers=_auth(tenant))
                for i in range(20)
            )
        )

    limited = [r for r in responses if r.status_code == 429]
    served = [r for r in responses if r.status_code == 202]
    assert len(limited) + len(served) == 20
    assert len(limited) >= 1 and len(served) >= 3
    assert limited[0].headers["retry-after"] == "1"
    assert limited[0].json() == {
        "error": {
            "code": "rate_limited",
            "message": "rate limit of 3 requests/s exceeded",
            "details": [],
        }
    }
