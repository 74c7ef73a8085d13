"""A payload the normalizer cannot map: dead-lettered with the field path, listed for
the console, replayed (original bytes, original topic) by the admin endpoint and CLI."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from ingest_it import (
    ADMIN,
    create_tenant,
    fixture_bytes,
    placed_id,
    post_webhook,
    read_topic,
    unique,
)

from crm_common.kafka import dead_letter_from_bytes
from crm_ingest.domain import RawWebhook, TenantContext, normalize_shopify
from crm_ingest.normalizer import make_decoder
from crm_ingest.raw_record import parse_raw_record

pytestmark = pytest.mark.infra

REASON = "decode: orders/create: line_items[1].quantity: not an integer: 'two'"


def _webhook_id_of(value: bytes) -> str | None:
    try:
        return parse_raw_record(value).webhook_id
    except (ValueError, KeyError, TypeError):
        return None


async def _letters(infra: Any, webhook_id: str, count: int) -> list[Any]:
    return await read_topic(
        infra,
        "crm.dlq.v1",
        lambda ls: len(ls) >= count,
        decode=lambda r: dead_letter_from_bytes(r.value),
        keep=lambda letter: _webhook_id_of(letter.value) == webhook_id,
    )


async def _raw_records(infra: Any, webhook_id: str, count: int) -> list[Any]:
    return await read_topic(
        infra,
        "crm.raw.v1",
        lambda rs: len(rs) >= count,
        decode=lambda r: r,
        keep=lambda r: _webhook_id_of(r.value) == webhook_id,
    )


def _fixed(raw: RawWebhook, tenant: TenantContext) -> list[Any]:
    """The normalizer after the "fix": spelled-out quantities are read as numbers."""
    body = orjson.loads(orjson.dumps(raw.body))
    for line in body["line_items"]:
        line["quantity"] = {"two": 2}.get(line["quantity"], line["quantity"])
    return normalize_shopify(dataclasses.replace(raw, body=body), tenant)


async def test_wrong_type_is_dead_lettered_listed_and_replayed(
    ingest, infra, subprocess_env
) -> None:
    # Other tests of the run dead-letter too (the DLQ is shared): scope to ours.
    started = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    scope = {"consumer": "ingest-normalizer", "since": started}
    tenant = create_tenant(ingest.url)
    body = orjson.loads(fixture_bytes("order.json"))
    body["line_items"][1]["quantity"] = "two"
    payload, webhook_id = orjson.dumps(body), unique("wh-bad")

    assert post_webhook(ingest.url, tenant, "orders/create", payload, webhook_id).status_code == 200

    (letter,) = await _letters(infra, webhook_id, 1)
    assert (letter.consumer, letter.error) == ("ingest-normalizer", REASON)
    assert letter.topic == infra.topic("crm.raw.v1")
    listing = httpx.get(f"{ingest.url}/admin/dlq", headers=ADMIN, timeout=30).json()
    assert listing["count"] >= 1
    # Other tests put the same bad order on the shared DLQ: pick ours by its position.
    (listed,) = [
        x
        for x in listing["letters"]
        if (x["partition"], x["offset"]) == (letter.partition, letter.offset)
    ]
    assert (listed["error"], listed["replayed"], listed["consumer"]) == (
        REASON,
        False,
        "ingest-normalizer",
    )
    assert httpx.get(f"{ingest.url}/admin/dlq", timeout=30).status_code == 401

    replay = httpx.post(
        f"{ingest.url}/admin/dlq/replay",
        json=scope,
        headers=ADMIN,
        timeout=30,
    )
    assert replay.json() == {"replayed": 1}
    original, replayed = await _raw_records(infra, webhook_id, 2)
    assert replayed.value == original.value  # the original bytes, on the original topic
    replay_of = dict(replayed.headers)["crm-replay-of"].decode()
    assert replay_of == f"{listed['dlq_partition']}:{listed['dlq_offset']}"
    # Not deduplicated: the live (unfixed) normalizer tried it again and failed again.
    _, second = await _letters(infra, webhook_id, 2)
    assert second.error == REASON
    again = httpx.post(f"{ingest.url}/admin/dlq/replay", json=scope, headers=ADMIN, timeout=30)
    assert again.json() == {"replayed": 1}  # only the new letter; the first was replayed once

    # The CLI replays what is left (the third letter, once it exists), one tenant's.
    await _letters(infra, webhook_id, 3)

    def replay_cli(tenant_id: str) -> str:
        args = ["replay-dlq", "--consumer", "ingest-normalizer", "--since", started]
        return subprocess.run(
            [sys.executable, "-m", "crm_ingest", *args, "--tenant", tenant_id],
            env=subprocess_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.strip()

    assert replay_cli("t-someone-else") == "replayed 0 dead letter(s)"
    assert replay_cli(tenant["tenant_id"]) == "replayed 1 dead letter(s)"

    # After the fix, the replayed raw record normalizes.
    events = make_decoder(_fixed)(replayed.value).events
    assert [e.type for e in events] == ["order.placed", "customer.upserted", "consent.changed"]
    assert events[0].event_id == placed_id(tenant["tenant_id"], events[0].data.order_id)
    assert [line.quantity for line in events[0].data.lines] == [1, 2, 1]
