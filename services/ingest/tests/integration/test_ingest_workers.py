"""The webhook front as several uvicorn workers (INGEST_WORKERS=2): both processes
serve the port, and /metrics adds up every worker's counts, whichever one answers."""

from __future__ import annotations

import os

import httpx
import psutil
import pytest
from ingest_it import ADMIN_TOKEN, create_tenant, fixture_bytes, post_webhook, unique
from service_process import ServiceProcess, free_port

pytestmark = pytest.mark.infra

WEBHOOKS = 40


def _workers(pid: int) -> list[psutil.Process]:
    children = psutil.Process(pid).children()
    return [p for p in children if "spawn_main" in " ".join(p.cmdline())]


async def test_two_front_workers_answer_and_count_as_one(infra, tmp_path) -> None:
    port = free_port()
    env = {
        **os.environ,
        **infra.env,
        "INGEST_PORT": str(port),
        "INGEST_ADMIN_TOKEN": ADMIN_TOKEN,
        "INGEST_IMPORT_SPOOL_DIR": str(tmp_path / "spool"),
        "INGEST_ROLE": "api",
        "INGEST_WORKERS": "2",
    }
    front = ServiceProcess("ingest", env, port, tmp_path / "ingest-workers.log")
    try:
        # Two interpreters import and start side by side: on a loaded 2-core machine
        # that took a minute; stopped below even if it never gets ready.
        front.start(timeout=240)
        assert front.proc is not None
        assert len(_workers(front.proc.pid)) == 2
        tenant = create_tenant(front.url)
        body = fixture_bytes("cart.json")
        for _ in range(WEBHOOKS):  # a new connection each: the kernel spreads them
            response = post_webhook(front.url, tenant, "carts/update", body, unique("wh"))
            assert response.status_code == 200, response.text
        line = 'crm_ingest_accepted_total{channel="webhook",topic="carts/update"}'
        for _ in range(4):  # every scrape, whichever worker answers it
            metrics = httpx.get(f"{front.url}/metrics", timeout=10).text
            counted = [x for x in metrics.splitlines() if x.startswith(line)]
            assert counted == [f"{line} {float(WEBHOOKS)}"], counted
    finally:
        front.stop()
