"""Triggers and facts: a birthday (date trait) sweep, the F2 entry condition checked
after the profile settles, an open that ends the win-back as engaged, a keyed
order trigger that starts one run per order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from messaging_it import Harness, person_traits
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

pytestmark = pytest.mark.infra


async def test_birthday_sweep_starts_one_run_per_year(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant(**NO_LIMITS)
    local = (h.clock.now() + timedelta(hours=9)).date()  # Asia/Tokyo
    birthday = f"1990-{local:%m-%d}"
    await h.profiles(
        tenant,
        {
            "bd-yes": person_traits(7301, birthday=birthday),
            "bd-no": person_traits(7302, birthday="1990-02-30"),
        },
    )
    await template(h, tenant, "bday", "email", subject="お誕生日おめでとう", text="🎂")
    definition = {
        "trigger": {"kind": "date_trait", "trait": "birthday"},
        "re_entry": {"kind": "every_time"},
        "steps": [{"kind": "send", "id": "card", "channel": "email", "template_id": "bday"}],
    }
    created = await h.client.post(
        "/v1/journeys",
        json={"id": "bday", "name": "Birthday", "definition": definition},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    await h.client.post("/v1/journeys/bday/start", headers=tenant.headers)
    assert await worker(h).sweep_dates() == 1
    assert await worker(h).sweep_dates() == 0  # same day again: the run key says no
    await worker(h).drain()
    assert await journey_messages(h, tenant, "bd-yes") == [("card", "email")]
    assert await runs(h, tenant, "bday", "bd-no") == []


async def test_f2_entry_condition_is_checked_once_the_profile_settles(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant(**NO_LIMITS)
    first, repeat = person_traits(7401, orders_count=1), person_traits(7402, orders_count=3)
    await h.profiles(tenant, {"f2-first": first, "f2-repeat": repeat})
    for name in ("thanks", "how_to_use", "review", "coupon"):
        await template(h, tenant, f"f2_{name}", "email", subject=name, text=name)
    await install(h, tenant, "f2_step_mail", id="f2")
    placed = h.clock.now().isoformat()
    for profile_id in ("f2-first", "f2-repeat"):
        order = {"order_id": f"o-{profile_id}", "placed_at": placed}
        await activity(h, tenant, profile_id, "order.placed", order)
        await activity(h, tenant, profile_id, "order.placed", order)  # redelivered: same key
    await wait_runs(h, tenant, "f2", 2)
    assert await worker(h).drain() == 0  # settling
    h.clock.advance(timedelta(days=1, minutes=1))
    await worker(h).drain()

    (admitted,) = await runs(h, tenant, "f2", "f2-first")
    assert (admitted["status"], admitted["current_step_id"]) == ("active", "wait_how_to_use")
    assert await journey_messages(h, tenant, "f2-first") == [("send_thanks", "email")]
    (rejected,) = await runs(h, tenant, "f2", "f2-repeat")
    assert (rejected["status"], rejected["exit_reason"]) == ("exited", "entry_condition")
    assert await journey_messages(h, tenant, "f2-repeat") == []
    # Leave no active run behind for other tests' workers (they share the database).
    archived = await h.client.post("/v1/journeys/f2/archive", headers=tenant.headers)
    assert archived.json()["status"] == "archived"


async def test_winback_ends_as_engaged_after_an_open(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant(**NO_LIMITS)
    await h.profiles(tenant, {"wb-opener": person_traits(7501)})
    for step in ("email_1", "email_2", "email_3"):
        await template(h, tenant, f"winback_{step}", "email", subject=step, text="x")
    await install(h, tenant, "winback_escalation", id="wbo", segment_id="sleepy")
    await entered(h, tenant, ["wb-opener"], "sleepy")
    await wait_runs(h, tenant, "wbo", 1)
    await worker(h).drain()
    h.clock.advance(timedelta(days=2))
    await activity(h, tenant, "wb-opener", "message.opened", {"message_id": "m-1"})
    await wait_facts(h, tenant, "wb-opener", "opened")
    for _ in range(3):
        h.clock.advance(timedelta(days=7, minutes=1))
        await worker(h).drain()

    (run,) = await runs(h, tenant, "wbo", "wb-opener")
    assert (run["status"], run["exit_reason"]) == ("exited", "engaged")
    assert [s for s, _ in await journey_messages(h, tenant, "wb-opener")] == [
        "email_1",
        "email_2",
        "email_3",
    ]
