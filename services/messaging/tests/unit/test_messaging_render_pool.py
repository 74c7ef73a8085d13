"""Issue 12, item 3: the render pool preempts a template over its time budget.

Real worker processes (no fakes): a loop that emits nothing never yields, so
only killing the worker can stop it.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio

from crm_common.events.customers import Channel
from crm_messaging.domain.compose import RenderedMessage, RenderJob
from crm_messaging.domain.rendering import MessageTemplate
from crm_messaging.domain.tracking_links import TrackingContext
from crm_messaging.sending.render_pool import RenderFailure, RenderLimits, RenderPool

NESTED = (
    "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
TRACKING = TrackingContext(
    "https://crm.example/t", "t1", "m1", b"k" * 32, datetime(2030, 1, 1, tzinfo=UTC)
)


def job(key: str | None = None, **parts: str) -> RenderJob:
    template = MessageTemplate(template_id="t", channel=Channel.EMAIL, parts=parts)
    traits = {"first_name": "花子", "last_name": "山田"}
    return RenderJob(template, "p1", traits, {}, [], TRACKING, True, key)


GOOD = {"subject": "{{ profile.first_name }}様", "text": "https://shop.example.jp/sale"}


@pytest_asyncio.fixture
async def pool() -> AsyncIterator[RenderPool]:
    the_pool = RenderPool(RenderLimits(timeout=0.5, workers=2, memory_bytes=256 * 1024 * 1024))
    await the_pool.start()
    yield the_pool
    await the_pool.close()


async def test_a_loop_that_never_yields_is_killed_and_only_its_message_fails(
    pool: RenderPool,
) -> None:
    jobs = [job(**GOOD), job("bomb", subject="s", text="ok", html=NESTED), job(**GOOD)]
    started = time.monotonic()
    first, bomb, last = await pool.render(jobs)
    assert time.monotonic() - started < 5
    assert bomb == RenderFailure("html", "rendering took longer than 0.5 s", "time")
    for outcome in (first, last):
        assert isinstance(outcome, RenderedMessage)
        assert outcome.parts["subject"] == "花子様"
        assert outcome.links == ["https://shop.example.jp/sale"]
    assert pool.kills == 1


async def test_the_event_loop_keeps_running_while_a_worker_spins(pool: RenderPool) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await pool.render([job(subject="s", text=NESTED)])
    task.cancel()
    assert ticks >= 20  # 0.5 s of budget: the loop was never held


async def test_a_template_out_of_time_is_quarantined(pool: RenderPool) -> None:
    await pool.render([job("bomb", subject="s", text=NESTED)])
    started = time.monotonic()
    outcomes = await pool.render([job("bomb", subject="s", text=NESTED) for _ in range(50)])
    assert time.monotonic() - started < 0.5
    assert {o.budget for o in outcomes if isinstance(o, RenderFailure)} == {"time"}
    assert len(outcomes) == 50 and pool.kills == 1


async def test_memory_is_bounded_per_worker() -> None:
    pool = RenderPool(RenderLimits(timeout=30, workers=1, memory_bytes=256 * 1024 * 1024))
    doubling = (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}"
    )
    try:
        (outcome, after) = await pool.render([job(subject="s", text=doubling), job(**GOOD)])
    finally:
        await pool.close()
    assert outcome == RenderFailure("text", "the render ran out of memory", "memory")
    assert isinstance(after, RenderedMessage)


async def test_a_big_batch_is_split_over_the_workers(pool: RenderPool) -> None:
    outcomes = await pool.render([job(**GOOD) for _ in range(200)])
    assert all(isinstance(o, RenderedMessage) for o in outcomes)
    assert pool.kills == 0
