"""SIGKILL the real service process twice in a burst of 2,000 SMS: no duplicate, none lost."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from messaging_it import SMS_ACCOUNT, Harness, load_run_service, person_traits, until
from messaging_providers import ProviderServer
from sqlalchemy import func, select

from crm_messaging.sending.enqueue import MessageRequest, enqueue_message
from crm_messaging.tables import messages

pytestmark = [pytest.mark.infra, pytest.mark.slow]
logging.getLogger("mail.log").setLevel(logging.WARNING)

N = 2000
run_service = load_run_service()


async def _states(h: Harness, tenant_id: str) -> dict[str, int]:
    async with h.db.transaction() as s:
        rows = await s.execute(
            select(messages.c.state, func.count())
            .where(messages.c.tenant_id == tenant_id)
            .group_by(messages.c.state)
        )
        return {state: count for state, count in rows}


async def test_sigkill_during_a_send_burst_never_duplicates_nor_loses(
    harness: Harness, infra: Any
) -> None:
    h = harness
    provider = ProviderServer(latency=0.01)
    provider.start()
    env = {
        "MESSAGING_SMS_API_URL": provider.url,
        "MESSAGING_HTTP_TIMEOUT": "2",
        "MESSAGING_LEASE_SECONDS": "4",
        "MESSAGING_DISPATCH_BATCH": "100",
        # Paced so the burst spans seconds: both kills must land mid-stream.
        "MESSAGING_RATE_LIMITS": '{"sms": 100}',
        "MESSAGING_RETRY_BASE_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
    }
    tenant = await h.tenant(sms=SMS_ACCOUNT, quiet_hours={})
    people = {f"burst-{n}": person_traits(100000 + n) for n in range(N)}
    await h.profiles(tenant, people)
    try:
        with run_service("messaging", infra, env) as svc:
            # The journey engine's entry point, in one transaction of its own.
            async with h.db.transaction() as session:
                now = datetime.now(UTC)
                for profile_id in people:
                    intent = MessageRequest(
                        source_kind="campaign",
                        source_id="burst",
                        profile_id=profile_id,
                        channel="sms",  # type: ignore[arg-type]
                        template={"text": "{{ profile.last_name }}様 春のセール"},
                    )
                    await enqueue_message(session, tenant.tenant_id, intent, now)
            kills = []
            for threshold in (N // 5, N // 2):

                async def reached(at: int = threshold) -> bool:
                    return len(provider.accepted) >= at

                await until(reached, timeout=120)
                svc.kill()
                kills.append(len(provider.accepted))
                # Not waiting for /readyz: the restarted process sends before it is
                # ready, and the next kill must still land mid-stream.
                svc.launch()

            svc.wait_ready()

            async def all_sent() -> bool:
                return (await _states(h, tenant.tenant_id)).get("sent") == N

            await until(all_sent, timeout=180)
            async with httpx.AsyncClient(base_url=svc.url) as client:
                log = await client.get(
                    "/v1/messages",
                    params={"status": "sent", "limit": 1},
                    headers=tenant.headers,
                )
                assert log.status_code == 200
    finally:
        provider.stop()

    assert all(0 < k < N for k in kills), kills
    assert await _states(h, tenant.tenant_id) == {"sent": N}
    per_phone = provider.accepted_per_recipient("sms")
    phones = {person_traits(100000 + n)["phone"] for n in range(N)}
    ours = {phone: count for phone, count in per_phone.items() if phone in phones}
    assert len(ours) == N and set(ours.values()) == {1}
    calls = [c for c in provider.calls if c.to in phones]
    statuses = Counter(c.status for c in calls)
    accepted_as_new = statuses[201]
    assert accepted_as_new == len({c.key for c in calls}) == N
    # Requests repeated after the crashes were answered from the idempotency store.
    assert statuses[200] == len(calls) - N
    # ...and there were such repeats: the kills did land on requests in flight.
    assert statuses[200] > 0
    await asyncio.sleep(0)
