"""The batch forms of the hot paths: the sending door for many intents (``Enqueuer``)
and a journey worker round that advances its runs together, falling back to one run
at a time when one of them breaks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from messaging_it import Harness, person_traits
from messaging_journey_it import NO_LIMITS, activity, install, runs, template, wait_runs, worker
from sqlalchemy import func, select, text

from crm_common.events.customers import Channel
from crm_messaging.domain.ids import lifecycle_event_id
from crm_messaging.handlers.errors import Invalid, NotFound
from crm_messaging.sending.enqueue import Enqueuer, MessageRequest, enqueue_message
from crm_messaging.tables import messages, outbox

pytestmark = pytest.mark.infra

INLINE = {"subject": "夏", "text": "{{ profile.last_name }}様"}


def _intent(profile_id: str, **changes: object) -> MessageRequest:
    fields: dict[str, object] = {
        "source_kind": "campaign",
        "source_id": "batch-door",
        "profile_id": profile_id,
        "channel": Channel.EMAIL,
        "template": INLINE,
    }
    fields.update(changes)
    return MessageRequest.model_validate(fields)


async def _queued_events(h: Harness, message_ids: list[str]) -> int:
    wanted = [lifecycle_event_id(mid, "message.queued") for mid in message_ids]
    async with h.db.transaction() as s:
        n = await s.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.event_id.in_(wanted))
        )
        return int(n or 0)


async def test_the_batch_door_writes_each_message_once_and_checks_at_add(
    harness: Harness,
) -> None:
    h = harness
    tenant = await h.tenant(**NO_LIMITS)
    now = h.clock.now()
    async with h.db.transaction() as session:
        before = await enqueue_message(session, tenant.tenant_id, _intent("b-0"), now)
    async with h.db.transaction() as session:
        door = Enqueuer(session, now)
        ids = [await door.add(tenant.tenant_id, _intent(f"b-{n}")) for n in range(3)]
        assert await door.add(tenant.tenant_id, _intent("b-1")) == ids[1]  # same intent
        with pytest.raises(NotFound):
            await door.add(tenant.tenant_id, _intent("b-9", template=None, template_id="nope"))
        with pytest.raises(Invalid):
            await door.add(tenant.tenant_id, _intent("b-9", template={"subject": "{% if %}"}))
        assert await door.flush() == 2  # b-0 was there already
    assert ids[0] == before.message["message_id"]
    async with h.db.transaction() as s:
        rows = (
            await s.execute(
                select(messages.c.message_id, messages.c.state, messages.c.inline_parts).where(
                    messages.c.message_id.in_(ids)
                )
            )
        ).all()
    assert sorted(rows) == sorted((mid, "queued", INLINE) for mid in ids)
    assert await _queued_events(h, ids) == 3  # one each, b-0's from its own enqueue


async def test_a_broken_run_fails_alone_and_the_rest_of_its_batch_advances(
    harness: Harness,
) -> None:
    h = harness
    tenant = await h.tenant(**NO_LIMITS)
    people = {f"jb-{n}": person_traits(8100 + n) for n in range(3)}
    await h.profiles(tenant, people)
    await template(h, tenant, "jb-mail", "email", subject="戻る", text="{{ recovery_url }}")
    await install(h, tenant, "abandoned_checkout", id="jb", template_ids={"email": "jb-mail"})
    for n, profile_id in enumerate(people):
        checkout = {"checkout_token": f"tok-{n}", "recovery_url": f"https://x.jp/r/{n}"}
        await activity(h, tenant, profile_id, "checkout.started", checkout)
    await wait_runs(h, tenant, "jb", 3)
    await worker(h).drain()
    async with h.db.transaction() as s:  # a run at a step its journey no longer has
        await s.execute(
            text(
                "UPDATE messaging.journey_runs SET current_step_id = 'gone' "
                "WHERE tenant_id = :t AND profile_id = 'jb-1'"
            ),
            {"t": tenant.tenant_id},
        )
    h.clock.advance(timedelta(hours=3, minutes=1))
    assert await worker(h).drain() == 3

    states = {}
    for profile_id in people:
        (run,) = await runs(h, tenant, "jb", profile_id)
        states[profile_id] = (run["status"], run["exit_reason"], run["current_step_id"])
    assert states == {
        "jb-0": ("completed", "completed", None),
        "jb-1": ("exited", "error:internal", "gone"),
        "jb-2": ("completed", "completed", None),
    }
    async with h.db.transaction() as s:
        sent = await s.execute(
            select(messages.c.profile_id, func.count())
            .where(messages.c.tenant_id == tenant.tenant_id, messages.c.source_id == "jb")
            .group_by(messages.c.profile_id)
        )
        assert dict(sent.all()) == {"jb-0": 1, "jb-2": 1}


async def test_a_run_whose_stored_state_is_unreadable_ends_and_never_blocks_the_rounds(
    harness: Harness,
) -> None:
    # Ending a failed run used to parse its state again: a state that could not be
    # parsed failed that too, so the whole round rolled back, every round, forever.
    h = harness
    tenant = await h.tenant(**NO_LIMITS)
    people = {f"ju-{n}": person_traits(8200 + n) for n in range(2)}
    await h.profiles(tenant, people)
    await template(h, tenant, "ju-mail", "email", subject="戻る", text="{{ recovery_url }}")
    await install(h, tenant, "abandoned_checkout", id="ju", template_ids={"email": "ju-mail"})
    for n, profile_id in enumerate(people):
        checkout = {"checkout_token": f"tok-u{n}", "recovery_url": f"https://x.jp/u/{n}"}
        await activity(h, tenant, profile_id, "checkout.started", checkout)
    await wait_runs(h, tenant, "ju", 2)
    await worker(h).drain()
    async with h.db.transaction() as s:  # a visited map whose times are not times
        await s.execute(
            text(
                'UPDATE messaging.journey_runs SET visited = \'{"wait": "not a time"}\' '
                "WHERE tenant_id = :t AND profile_id = 'ju-1'"
            ),
            {"t": tenant.tenant_id},
        )
    h.clock.advance(timedelta(hours=3, minutes=1))
    assert await worker(h).drain() == 2
    assert await worker(h).drain() == 0  # nothing left due: the broken run is over

    states = {}
    for profile_id in people:
        (run,) = await runs(h, tenant, "ju", profile_id)
        states[profile_id] = (run["status"], run["exit_reason"])
    assert states == {"ju-0": ("completed", "completed"), "ju-1": ("exited", "error:internal")}
