"""SIGKILL the real service twice while a campaign enqueues 1,000 SMS: everyone in the
segment gets exactly one message, and the campaign's own counters stay exact."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import httpx
import pytest
from messaging_campaign_it import NO_LIMITS, members
from messaging_it import SMS_ACCOUNT, Harness, load_run_service, person_traits, until
from messaging_providers import ProviderServer
from sqlalchemy import func, select

from crm_messaging.tables import messages
from crm_messaging.tables_campaigns import campaign_recipients

pytestmark = [pytest.mark.infra, pytest.mark.slow]
logging.getLogger("mail.log").setLevel(logging.WARNING)

N = 1000
run_service = load_run_service()


async def _enqueued(h: Harness, campaign_id: str) -> int:
    r = campaign_recipients
    async with h.db.transaction() as s:
        n = await s.scalar(
            select(func.count()).where(r.c.campaign_id == campaign_id, r.c.message_id.isnot(None))
        )
        return int(n or 0)


async def _states(h: Harness, campaign_id: str) -> dict[str, int]:
    m = messages
    async with h.db.transaction() as s:
        rows = await s.execute(
            select(m.c.state, func.count()).where(m.c.source_id == campaign_id).group_by(m.c.state)
        )
        return {state: count for state, count in rows}


async def test_sigkill_mid_campaign_never_duplicates_nor_loses(
    harness: Harness, infra: Any
) -> None:
    h = harness
    provider = ProviderServer(latency=0.005)
    provider.start()
    env = {
        "MESSAGING_SMS_API_URL": provider.url,
        "MESSAGING_HTTP_TIMEOUT": "2",
        "MESSAGING_LEASE_SECONDS": "4",
        "MESSAGING_CAMPAIGN_BATCH": "40",
        "MESSAGING_RATE_LIMITS": '{"sms": 400}',
        "MESSAGING_RETRY_BASE_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
    }
    tenant = await h.tenant(sms=SMS_ACCOUNT, **NO_LIMITS)
    people = {f"camp-{n}": person_traits(200000 + n) for n in range(N)}
    await h.profiles(tenant, people)
    await members(h, tenant, "crash-seg", list(people))
    body = {
        "name": "Crash sale",
        "segment_id": "crash-seg",
        "channel": "sms",
        "template": {"text": "{{ profile.last_name }}様 夏のセール"},
        "throttle_per_minute": 3000,  # 50 a second: the enqueue phase spans ~20 s
    }
    try:
        with run_service("messaging", infra, env) as svc:
            async with httpx.AsyncClient(base_url=svc.url, headers=tenant.headers) as client:
                created = (await client.post("/v1/campaigns", json=body)).json()
                cid = created["id"]
                scheduled = await client.post(f"/v1/campaigns/{cid}/schedule")
                assert scheduled.status_code == 200, scheduled.text
            kills = []
            for threshold in (N // 5, N // 2):

                async def reached(at: int = threshold) -> bool:
                    return await _enqueued(h, cid) >= at

                await until(reached, timeout=120)
                svc.kill()
                kills.append(await _enqueued(h, cid))
                # Not waiting for /readyz: the restarted process sends before it is
                # ready, and the next kill must still land mid-stream.
                svc.launch()

            svc.wait_ready()

            async def all_sent() -> bool:
                return (await _states(h, cid)).get("sent") == N

            await until(all_sent, timeout=180)
            async with httpx.AsyncClient(base_url=svc.url, headers=tenant.headers) as client:
                final = (await client.get(f"/v1/campaigns/{cid}")).json()
                stats = (await client.get(f"/v1/campaigns/{cid}/stats")).json()
    finally:
        provider.stop()

    assert all(0 < k < N for k in kills), kills
    assert (final["status"], final["audience"], final["enqueued"]) == ("completed", N, N)
    assert await _states(h, cid) == {"sent": N}
    assert stats["totals"]["sent"] == N
    phones = {person_traits(200000 + n)["phone"] for n in range(N)}
    per_phone = provider.accepted_per_recipient("sms")
    ours = {phone: count for phone, count in per_phone.items() if phone in phones}
    assert len(ours) == N and set(ours.values()) == {1}
    statuses = Counter(c.status for c in provider.calls if c.to in phones)
    assert statuses[201] == N
