"""Issue 12, item 3: a template cannot freeze messaging or flood it.

The attacks: a preview with three nested ``range(100000)`` (never finished, the
event loop held), a 20 MB output returned by the preview, and the same template
in the send path (the dispatcher renders every message). Now every render runs
in a worker process with a time budget (killed past it), an output budget
(stopped while generating) and a memory limit; saves refuse sources over the cap.

The slow templates below loop only when the profile has a first name, so they
pass the save-time trial (rendered without data) and reach preview and send.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest
from messaging_it import Harness, Tenant
from messaging_it import person_traits as traits
from messaging_providers import SmtpServer

pytestmark = pytest.mark.infra
logging.getLogger("mail.log").setLevel(logging.WARNING)

NESTED = (
    "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
NESTED_WITH_DATA = (
    "{% set n = 100000 if profile.first_name else 0 %}"
    "{% for a in range(n) %}{% for b in range(n) %}{% for c in range(n) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
TWENTY_MB = "{% for i in range(20000) %}{{ 'x' * 1000 }}{% endfor %}"
TWENTY_MB_WITH_DATA = (
    "{% for i in range(20000 if profile.first_name else 0) %}{{ 'x' * 1000 }}{% endfor %}"
)


async def _save(h: Harness, tenant: Tenant, template_id: str, **parts: str) -> httpx.Response:
    body = {"template_id": template_id, "name": template_id, "channel": "email", "parts": parts}
    return await h.client.post("/v1/templates", json=body, headers=tenant.headers)


def _budget_error(response: httpx.Response) -> tuple[int, str, str | None]:
    (detail,) = response.json()["error"]["details"]
    return response.status_code, detail["path"], detail["budget"]


async def _healthz_latencies(h: Harness, stop: asyncio.Event) -> list[float]:
    latencies = []
    while not stop.is_set():
        started = time.monotonic()
        answer = await h.client.get("/healthz")
        assert answer.status_code == 200
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.05)
    return latencies


async def test_nested_loops_in_a_preview_are_a_quick_422_while_healthz_answers(
    harness: Harness,
) -> None:
    h = harness
    tenant = await h.tenant()
    await h.profiles(tenant, {"b-1": traits(9101)})
    saved = await _save(h, tenant, "slow", subject="s", text="ok", html=NESTED_WITH_DATA)
    assert saved.status_code == 201, saved.text
    stop = asyncio.Event()
    probe = asyncio.create_task(_healthz_latencies(h, stop))
    started = time.monotonic()
    preview = await h.client.post(
        "/v1/templates/slow/preview", json={"profile_id": "b-1"}, headers=tenant.headers
    )
    took = time.monotonic() - started
    stop.set()
    latencies = await probe
    assert _budget_error(preview) == (422, "parts.html", "time")
    assert preview.json()["error"]["message"] == "parts.html: rendering took longer than 1 s"
    assert took < 10  # a 1 s budget, plus a fresh worker on a loaded machine
    assert len(latencies) >= 5 and max(latencies) < 0.5


async def test_a_twenty_megabyte_output_is_refused_at_preview(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant()
    await h.profiles(tenant, {"b-2": traits(9102)})
    saved = await _save(h, tenant, "big", subject="s", text=TWENTY_MB_WITH_DATA)
    assert saved.status_code == 201, saved.text
    preview = await h.client.post(
        "/v1/templates/big/preview", json={"profile_id": "b-2"}, headers=tenant.headers
    )
    assert _budget_error(preview) == (422, "parts.text", "output")
    assert preview.json()["error"]["message"] == (
        "parts.text: output is over the budget (1048576 bytes)"
    )


@pytest.mark.parametrize(
    ("parts", "path", "budget"),
    [
        ({"subject": "s", "html": NESTED}, "parts.html", "time"),
        ({"subject": NESTED, "text": "t"}, "parts.subject", "time"),
        ({"subject": "s", "text": TWENTY_MB}, "parts.text", "output"),
        ({"subject": "s", "text": "{{ 'x' * 100000000 }}"}, "parts.text", "output"),
    ],
)
async def test_a_template_over_budget_without_any_data_is_refused_at_save(
    harness: Harness, parts: dict[str, str], path: str, budget: str
) -> None:
    h = harness
    tenant = await h.tenant()
    refused = await _save(h, tenant, "bad", **parts)
    assert _budget_error(refused) == (422, path, budget)
    listed = await h.client.get("/v1/templates", headers=tenant.headers)
    assert listed.json()["items"] == []


async def test_template_source_size_is_capped_at_save(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant()
    refused = await _save(h, tenant, "huge", subject="s", html="<p>x</p>" * 40_000)
    assert refused.status_code == 422
    (detail,) = refused.json()["error"]["details"]
    assert detail["path"] == "parts.html"
    assert detail["message"] == "template source is 320001 bytes, over 262144"


async def _message(h: Harness, tenant: Tenant, mid: str) -> dict[str, Any]:
    return await h.message(tenant, mid)


async def test_the_send_path_fails_only_the_message_over_budget(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    h = harness
    attacker, other = await h.tenant(quiet_hours={}), await h.tenant(quiet_hours={})
    await h.profiles(attacker, {"a-1": traits(9111), "a-2": traits(9112), "a-3": traits(9113)})
    await h.profiles(other, {"o-1": traits(9114)})
    assert (await _save(h, attacker, "slow", subject="s", html=NESTED_WITH_DATA)).status_code == 201
    good = {"subject": "こんにちは", "text": "{{ profile.name }} 様"}
    slow_1 = await h.enqueue(
        attacker, source_id="x1", profile_id="a-1", channel="email", template_id="slow"
    )
    slow_2 = await h.enqueue(
        attacker, source_id="x2", profile_id="a-2", channel="email", template_id="slow"
    )
    fine = await h.enqueue(
        attacker, source_id="x3", profile_id="a-3", channel="email", template=good
    )
    theirs = await h.enqueue(
        other, source_id="y1", profile_id="o-1", channel="email", template=good
    )
    started = time.monotonic()
    await h.dispatch()
    assert time.monotonic() - started < 15  # one budget: the second is quarantined at once
    for tenant, m in ((attacker, slow_1), (attacker, slow_2)):
        failed = await _message(h, tenant, m["message_id"])
        assert (failed["state"], failed["reason"], failed["detail"]) == (
            "failed",
            "template_over_budget",
            "html: rendering took longer than 1 s",
        )
    for tenant, m in ((attacker, fine), (other, theirs)):
        assert (await _message(h, tenant, m["message_id"]))["state"] == "sent"
    assert [r.message["Subject"] for r in smtp_server.to("hanako9114@example.jp")] == ["こんにちは"]
    events = await h.events(
        attacker.tenant_id,
        lambda found: [e.type for e in found].count("message.failed") == 2,
    )
    assert {e.data.reason for e in events if e.type == "message.failed"} == {"template_over_budget"}
    # Nothing is retried: the next rounds find nothing of these to do.
    await h.dispatch()
    assert (await _message(h, attacker, slow_1["message_id"]))["attempts"] == 0
