"""SIGKILL the real service twice in a burst of 1,000 emails: an email that reached SMTP
DATA is never sent again (it ends failed ``in_doubt:smtp_data`` unless its ``sent`` was
committed), every other one is sent exactly once, none is lost."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from messaging_it import Harness, load_run_service, person_traits, until
from messaging_providers import SmtpServer
from sqlalchemy import func, select

from crm_common.events.customers import Channel
from crm_messaging.sending.enqueue import MessageRequest, enqueue_message
from crm_messaging.tables import messages

pytestmark = [pytest.mark.infra, pytest.mark.slow]
logging.getLogger("mail.log").setLevel(logging.WARNING)

N = 1000
CONCURRENCY = 32
run_service = load_run_service()


async def _states(h: Harness, tenant_id: str) -> dict[tuple[str, str | None], int]:
    m = messages
    async with h.db.transaction() as s:
        rows = await s.execute(
            select(m.c.state, m.c.reason, func.count())
            .where(m.c.tenant_id == tenant_id)
            .group_by(m.c.state, m.c.reason)
        )
        return {(state, reason): count for state, reason, count in rows}


async def _sent_profiles(h: Harness, tenant_id: str) -> list[str]:
    m = messages
    async with h.db.transaction() as s:
        rows = await s.execute(
            select(m.c.profile_id).where(m.c.tenant_id == tenant_id, m.c.state == "sent")
        )
        return [profile_id for (profile_id,) in rows]


async def test_sigkill_during_an_email_burst_never_resends_past_data(
    harness: Harness, infra: Any
) -> None:
    h = harness
    smtp = SmtpServer()
    smtp.start()
    env = {
        "MESSAGING_SMTP_HOST": "127.0.0.1",
        "MESSAGING_SMTP_PORT": str(smtp.port),
        "MESSAGING_LEASE_SECONDS": "4",
        "MESSAGING_DISPATCH_BATCH": "100",
        "MESSAGING_DISPATCH_CONCURRENCY": str(CONCURRENCY),
        # Paced so the burst spans seconds: both kills must land mid-stream.
        "MESSAGING_RATE_LIMITS": '{"smtp": 150}',
        "LOG_LEVEL": "WARNING",
    }
    tenant = await h.tenant(quiet_hours={})
    people = {f"mail-{n}": person_traits(300000 + n) for n in range(N)}
    await h.profiles(tenant, people)
    ours = {traits["email"] for traits in people.values()}

    def received() -> Counter[str]:
        with smtp.lock:
            return Counter(to for r in smtp.received for to in r.rcpt_tos if to in ours)

    try:
        with run_service("messaging", infra, env) as svc:
            async with h.db.transaction() as session:
                now = datetime.now(UTC)
                for profile_id in people:
                    intent = MessageRequest(
                        source_kind="campaign",
                        source_id="mail-burst",
                        profile_id=profile_id,
                        channel=Channel.EMAIL,
                        template={"subject": "夏のセール", "text": "{{ profile.last_name }}様"},
                    )
                    await enqueue_message(session, tenant.tenant_id, intent, now)
            kills = []
            for threshold in (N // 5, N // 2):

                async def reached(at: int = threshold) -> bool:
                    return sum(received().values()) >= at

                await until(reached, timeout=120)
                svc.kill()
                kills.append(sum(received().values()))
                # Not waiting for /readyz: the restarted process sends before it is
                # ready, and the next kill must still land mid-stream.
                svc.launch()

            svc.wait_ready()

            async def settled() -> bool:
                states = await _states(h, tenant.tenant_id)
                done = all(state in ("sent", "failed") for state, _ in states)
                return done and sum(states.values()) == N

            await until(settled, timeout=180)
    finally:
        smtp.stop()

    assert all(0 < k < N for k in kills), kills
    states = await _states(h, tenant.tenant_id)
    sent = states.get(("sent", None), 0)
    in_doubt = states.get(("failed", "in_doubt:smtp_data"), 0)
    assert sent + in_doubt == N, states  # nothing lost, nothing failed for another reason
    assert in_doubt <= 2 * CONCURRENCY, states  # only what was past DATA at the two kills
    per_address = received()
    assert set(per_address.values()) <= {1}, "an email was sent twice"
    sent_to = [people[p]["email"] for p in await _sent_profiles(h, tenant.tenant_id)]
    assert len(sent_to) == sent
    assert all(per_address[address] == 1 for address in sent_to)
    # What reached nobody is exactly what was in doubt and never delivered.
    assert N - len(per_address) <= in_doubt
