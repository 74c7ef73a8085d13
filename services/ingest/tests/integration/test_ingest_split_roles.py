"""Ingest deployed as `make up` runs it: an HTTP front (INGEST_ROLE=api) and a worker
process (INGEST_ROLE=worker: normalizer, outbox relay, CSV import worker).

The front only spools and queues an import; the worker claims and runs it, and the
canonical events still reach crm.events.v1 exactly once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from ingest_it import ADMIN_TOKEN, create_tenant, events_of, run_service

pytestmark = pytest.mark.infra

ROWS = "会員ID,メールアドレス,姓,名\n" + "".join(
    f"S{i},split{i}@example.jp,山田,太郎{i}\n" for i in range(1, 301)
)


async def _finished(url: str, key: str, import_id: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        body = httpx.get(
            f"{url}/v1/imports/{import_id}", headers={"Authorization": f"Bearer {key}"}
        ).json()
        if body["status"] in ("completed", "failed"):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"import {import_id} not finished: {body}")


async def test_front_queues_and_worker_imports(infra, tmp_path) -> None:
    spool = str(tmp_path / "spool")
    common = {"INGEST_ADMIN_TOKEN": ADMIN_TOKEN, "INGEST_IMPORT_SPOOL_DIR": spool}
    with (
        run_service("ingest", infra, {**common, "INGEST_ROLE": "worker"}),
        run_service("ingest", infra, {**common, "INGEST_ROLE": "api"}) as front,
    ):
        tenant = create_tenant(front.url)
        created = httpx.post(
            f"{front.url}/v1/imports?kind=customers",
            files={"file": ("customers.csv", ROWS.encode(), "text/csv")},
            headers={"Authorization": f"Bearer {tenant['api_key']}"},
        )
        assert created.status_code == 202
        report = await _finished(front.url, tenant["api_key"], created.json()["import_id"])
        assert report["status"] == "completed"
        assert report["progress"] == {
            "rows_read": 300,
            "accepted": 300,
            "rejected": 0,
            "duplicates": 0,
            "events": 300,
        }
        events = await events_of(infra, tenant["tenant_id"], lambda es: len(es) >= 300)
        emails = sorted(e.data.email for e in events)
        assert emails == sorted(f"split{i}@example.jp" for i in range(1, 301))
