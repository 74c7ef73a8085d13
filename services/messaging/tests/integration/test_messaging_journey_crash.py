"""SIGKILL the real service while its journey worker advances hundreds of runs, twice
(once per send step): afterwards each run sent each step exactly once and completed."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from messaging_it import Harness, load_run_service, until
from messaging_journey_it import entered, template, wait_runs
from sqlalchemy import func, select

from crm_messaging.tables import messages
from crm_messaging.tables_journeys import journey_run_steps, journey_runs

pytestmark = [pytest.mark.infra, pytest.mark.slow]

N = 800
run_service = load_run_service()

DEFINITION = {
    "trigger": {"kind": "segment_entered", "segment_id": "crash"},
    "steps": [
        {"kind": "send", "id": "dm", "channel": "postal_dm", "template_id": "c_dm", "next": "w"},
        {
            "kind": "wait",
            "id": "w",
            "wait": {"kind": "duration", "duration": "PT1H"},
            "next": "call",
        },
        {"kind": "send", "id": "call", "channel": "call", "template_id": "c_call"},
    ],
}


async def _sent(h: Harness, tenant_id: str, step_id: str) -> int:
    m = messages
    async with h.db.transaction() as s:
        count = await s.scalar(
            select(func.count()).where(
                m.c.tenant_id == tenant_id, m.c.source_id == "crash", m.c.step_id == step_id
            )
        )
        return int(count or 0)


async def _kill_midway(h: Harness, svc: Any, tenant_id: str, step_id: str) -> int:
    async def started() -> bool:
        return await _sent(h, tenant_id, step_id) >= N // 4

    await until(started, timeout=120)
    svc.kill()
    at_kill = await _sent(h, tenant_id, step_id)
    svc.start()

    async def finished() -> bool:
        return await _sent(h, tenant_id, step_id) == N

    await until(finished, timeout=180)
    return at_kill


async def test_sigkill_while_advancing_runs_sends_each_step_once(
    harness: Harness, infra: Any, tmp_path: Path
) -> None:
    h = harness
    tenant = await h.tenant()
    await template(h, tenant, "c_dm", "postal_dm", body="DM")
    await template(h, tenant, "c_call", "call", script="お電話")
    created = await h.client.post(
        "/v1/journeys",
        json={"id": "crash", "name": "crash", "definition": DEFINITION},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    await h.client.post("/v1/journeys/crash/start", headers=tenant.headers)
    clock_file = tmp_path / "clock"
    clock_file.write_text(h.clock.now().isoformat())
    env = {
        "MESSAGING_FAKE_CLOCK_FILE": str(clock_file),
        "MESSAGING_DISPATCHER_ENABLED": "false",
        "MESSAGING_JOURNEY_WORKER_ENABLED": "true",
        "LOG_LEVEL": "WARNING",
    }
    with run_service("messaging", infra, env) as svc:
        await entered(h, tenant, [f"c-{n}" for n in range(N)], "crash")
        first_kill = await _kill_midway(h, svc, tenant.tenant_id, "dm")
        await wait_runs(h, tenant, "crash", N)
        clock_file.write_text((h.clock.now() + timedelta(hours=1, minutes=5)).isoformat())
        second_kill = await _kill_midway(h, svc, tenant.tenant_id, "call")

        async def completed() -> bool:
            return (await _statuses(h, tenant.tenant_id)) == {"completed": N}

        await until(completed, timeout=120)

    assert 0 < first_kill < N and 0 < second_kill < N, (first_kill, second_kill)
    per_run = await _sends_per_run(h, tenant.tenant_id)
    assert len(per_run) == N
    assert set(per_run.values()) == {("dm", "call")}


async def _statuses(h: Harness, tenant_id: str) -> dict[str, int]:
    r = journey_runs
    async with h.db.transaction() as s:
        rows = await s.execute(
            select(r.c.status, func.count()).where(r.c.tenant_id == tenant_id).group_by(r.c.status)
        )
        return {status: count for status, count in rows}


async def _sends_per_run(h: Harness, tenant_id: str) -> dict[str, tuple[str, ...]]:
    hs = journey_run_steps
    async with h.db.transaction() as s:
        rows = await s.execute(
            select(hs.c.run_id, hs.c.step_id)
            .where(hs.c.tenant_id == tenant_id, hs.c.action == "sent")
            .order_by(hs.c.run_id, hs.c.seq)
        )
        out: dict[str, list[str]] = {}
        for run_id, step_id in rows:
            out.setdefault(run_id, []).append(step_id)
    counts = Counter(len(v) for v in out.values())
    assert counts == Counter({2: N}), counts
    return {run_id: tuple(steps) for run_id, steps in out.items()}
