"""Journeys on the real Kafka and Postgres, in-process, with the fake clock and the
worker driven by hand: abandoned checkout and the win-back escalation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from messaging_it import SMS_ACCOUNT, Harness, person_traits, until
from messaging_journey_it import (
    NO_LIMITS,
    activity,
    entered,
    install,
    journey_messages,
    runs,
    template,
    wait_facts,
    wait_runs,
    worker,
)
from messaging_providers import SmtpServer

pytestmark = pytest.mark.infra

RECOVERY = "https://shop.example.jp/checkouts/tok-a/recover"


def _checkout(token: str, cart: str) -> dict[str, object]:
    return {
        "checkout_token": token,
        "cart_token": cart,
        "recovery_url": f"https://shop.example.jp/checkouts/{token}/recover",
        "currency": "JPY",
        "total": "3000",
        "started_at": "2026-01-15T03:00:00Z",
    }


async def test_abandoned_checkout_recovers_once_and_not_after_its_order(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    tenant = await h.tenant(**NO_LIMITS)
    await h.profiles(tenant, {"ac-1": person_traits(7001), "ac-2": person_traits(7002)})
    await template(
        h, tenant, "recovery", "email", subject="お忘れですか", text="戻る: {{ recovery_url }}"
    )
    journey = await install(
        h, tenant, "abandoned_checkout", id="ac", template_ids={"email": "recovery"}
    )
    assert (journey["status"], journey["version"]) == ("live", 1)
    start = h.clock.now()
    await activity(h, tenant, "ac-1", "checkout.started", _checkout("tok-a", "cart-a"))
    await activity(h, tenant, "ac-1", "checkout.started", _checkout("tok-a", "cart-a"))  # again
    await activity(h, tenant, "ac-2", "checkout.started", _checkout("tok-b", "cart-b"))
    await wait_runs(h, tenant, "ac", 2)
    order = {"order_id": "o-b", "placed_at": start.isoformat(), "checkout_token": "tok-b"}
    await activity(h, tenant, "ac-2", "order.placed", order)
    await wait_facts(h, tenant, "ac-2", "order")
    await worker(h).drain()

    (waiting,) = await runs(h, tenant, "ac", "ac-1")
    assert (waiting["status"], waiting["current_step_id"]) == ("active", "wait")
    assert waiting["next_wake_at"] == (start + timedelta(hours=3)).isoformat()
    (bought,) = await runs(h, tenant, "ac", "ac-2")
    assert (bought["status"], bought["exit_reason"]) == ("goal_reached", "goal:purchase")

    h.clock.advance(timedelta(hours=3, minutes=1))
    assert await worker(h).drain() == 1
    await h.dispatch()

    async def delivered() -> bool:
        return len(smtp_server.to("hanako7001@example.jp")) == 1

    await until(delivered)
    (mail,) = smtp_server.to("hanako7001@example.jp")
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    (link,) = re.findall(r"http://testserver/t/c/\S+", text)
    click = await h.client.get(link.removeprefix("http://testserver"))
    assert (click.status_code, click.headers["location"]) == (302, RECOVERY)
    assert smtp_server.to("hanako7002@example.jp") == []
    assert await journey_messages(h, tenant, "ac-1") == [("email", "email")]
    assert await journey_messages(h, tenant, "ac-2") == []
    (done,) = await runs(h, tenant, "ac", "ac-1")
    assert done["status"] == "completed"
    assert [(e["step_id"], e["action"]) for e in done["history"]] == [
        ("wait", "entered"),
        ("wait", "waiting"),
        ("wait", "moved"),
        ("email", "sent"),
        (None, "completed"),
    ]


async def test_winback_escalates_to_the_call_list_and_stops_for_a_buyer(
    harness: Harness,
) -> None:
    h = harness
    tenant = await h.tenant(sms=SMS_ACCOUNT, line={"channel_access_token": "x"}, **NO_LIMITS)
    silent, buyer = person_traits(7101), person_traits(7102)
    await h.profiles(tenant, {"wb-silent": silent, "wb-buyer": buyer})
    for step in ("email_1", "email_2", "email_3"):
        await template(h, tenant, f"winback_{step}", "email", subject=step, text="お久しぶりです")
    await template(h, tenant, "winback_line", "line", text="LINE")
    await template(h, tenant, "winback_sms", "sms", text="SMS")
    await template(h, tenant, "winback_dm", "postal_dm", body="DM")
    await template(h, tenant, "winback_call", "call", script="お電話")
    await install(h, tenant, "winback_escalation", id="wb", segment_id="dormant")
    await entered(h, tenant, ["wb-silent", "wb-buyer"], "dormant")
    await wait_runs(h, tenant, "wb", 2)
    await worker(h).drain()
    placed = (h.clock.now() + timedelta(seconds=1)).isoformat()
    await activity(h, tenant, "wb-buyer", "order.placed", {"order_id": "o-1", "placed_at": placed})
    await wait_facts(h, tenant, "wb-buyer", "order")
    # 7 days between the emails, then LINE, DM (3 weeks to react), call list.
    for days in (7, 7, 7, 7, 21):
        h.clock.advance(timedelta(days=days, minutes=1))
        await worker(h).drain()

    assert await journey_messages(h, tenant, "wb-silent") == [
        ("email_1", "email"),
        ("email_2", "email"),
        ("email_3", "email"),
        ("line", "line"),
        ("dm", "postal_dm"),
        ("call", "call"),
    ]
    assert await journey_messages(h, tenant, "wb-buyer") == [("email_1", "email")]
    (silent_run,) = await runs(h, tenant, "wb", "wb-silent")
    assert (silent_run["status"], silent_run["exit_reason"]) == ("completed", "completed")
    (buyer_run,) = await runs(h, tenant, "wb", "wb-buyer")
    assert (buyer_run["status"], buyer_run["exit_reason"]) == ("goal_reached", "goal:purchase")


async def test_a_fact_being_recorded_holds_the_run_until_it_commits(harness: Harness) -> None:
    """The lost wake an end-to-end run hit under load, made deterministic: while a
    purchase fact is being recorded (its transaction not yet committed), the worker
    must not take the person's due run and evaluate it without the fact (it then
    re-armed a 3-hour wait over the purchase). Waking locks the run, so the worker
    skips it, and takes it once the fact is committed."""
    from crm_messaging.repository import journey_facts as facts_repo
    from crm_messaging.repository import journey_runs as runs_repo

    h = harness
    tenant = await h.tenant(**NO_LIMITS)
    await h.profiles(tenant, {"lw-1": person_traits(7101)})
    await template(
        h, tenant, "recovery", "email", subject="お忘れですか", text="{{ recovery_url }}"
    )
    await install(h, tenant, "abandoned_checkout", id="lw", template_ids={"email": "recovery"})
    await activity(h, tenant, "lw-1", "checkout.started", _checkout("tok-lw", "cart-lw"))
    await wait_runs(h, tenant, "lw", 1)
    now = h.clock.now()

    recording = h.db.transaction()
    fact = await recording.__aenter__()
    try:
        order = {"checkout_token": "tok-lw", "product_ids": []}
        await facts_repo.add_fact(fact, tenant.tenant_id, "lw-1", "order", "o-lw", now, order)
        await runs_repo.wake_profile(fact, tenant.tenant_id, "lw-1", now)
        async with h.db.transaction() as claiming:
            due = await runs_repo.claim_due(claiming, now, 100)
            assert [r["profile_id"] for r in due if r["tenant_id"] == tenant.tenant_id] == []
    finally:
        await recording.__aexit__(None, None, None)  # the fact commits
    await worker(h).drain()

    (run,) = await runs(h, tenant, "lw", "lw-1")
    assert (run["status"], run["exit_reason"]) == ("goal_reached", "goal:purchase")
