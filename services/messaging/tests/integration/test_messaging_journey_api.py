"""The journeys REST API: validation naming the step, versions that never strand
runs, pause/resume/archive, templates, branches and the update_profile step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from messaging_it import Harness, person_traits
from messaging_journey_it import (
    NO_LIMITS,
    entered,
    journey_messages,
    runs,
    template,
    wait_runs,
    worker,
)

pytestmark = pytest.mark.infra


def _definition(second_template: str = "second") -> dict[str, Any]:
    return {
        "trigger": {"kind": "segment_entered", "segment_id": "vip"},
        "re_entry": {"kind": "once"},
        "steps": [
            {
                "kind": "send",
                "id": "first",
                "channel": "email",
                "template_id": "first",
                "next": "w",
            },
            {
                "kind": "wait",
                "id": "w",
                "wait": {"kind": "duration", "duration": "P1D"},
                "next": "b",
            },
            {
                "kind": "branch",
                "id": "b",
                "condition": {"kind": "trait", "trait": "rank", "op": "eq", "value": "gold"},
                "then_step": "tag",
                "else_step": "second",
            },
            {"kind": "update_profile_property", "id": "tag", "property": "vip_seen", "value": True},
            {"kind": "send", "id": "second", "channel": "email", "template_id": second_template},
        ],
    }


async def _sent_templates(h: Harness, tenant: Any, profile_id: str) -> list[str]:
    (run,) = await runs(h, tenant, "vip", profile_id)
    return [e["detail"]["template_id"] for e in run["history"] if e["action"] == "sent"]


async def test_validation_errors_name_the_step(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant()
    bad = _definition()
    bad["steps"][4] = {"kind": "send", "id": "second", "channel": "email"}
    bad["steps"][3] = {**bad["steps"][3], "next": "nowhere"}
    answer = await h.client.post(
        "/v1/journeys", json={"name": "x", "definition": bad}, headers=tenant.headers
    )
    assert answer.status_code == 422
    details = answer.json()["error"]["details"]
    assert [(d["path"], d["message"]) for d in details] == [
        ("steps[3]", "unknown next step 'nowhere'"),
        ("steps[4].template_id", "send step has no template"),
    ]
    bad = _definition()
    bad["steps"][4]["channel"] = "fax"
    bad["steps"][1]["wait"] = {"kind": "duration"}
    answer = await h.client.post(
        "/v1/journeys", json={"name": "x", "definition": bad}, headers=tenant.headers
    )
    assert answer.status_code == 422
    paths = [d["path"] for d in answer.json()["error"]["details"]]
    assert paths == ["steps[1].wait.duration", "steps[4].channel"]
    assert (await h.client.get("/v1/journeys/nope", headers=tenant.headers)).status_code == 404
    assert (await h.client.get("/v1/journeys")).status_code == 401


async def test_versions_pause_resume_archive_and_update_profile(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant(**NO_LIMITS)
    people = {
        f"v-{n}": person_traits(7200 + n, rank="gold" if n == 3 else "silver") for n in (1, 2, 3, 4)
    }
    await h.profiles(tenant, people)
    for name in ("first", "second", "second_v2"):
        await template(h, tenant, name, "email", subject=name, text=name)
    created = await h.client.post(
        "/v1/journeys",
        json={"id": "vip", "name": "VIP", "definition": _definition()},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["id"], body["name"], body["status"], body["version"]) == ("vip", "VIP", "draft", 1)
    assert set(body) == {
        "id",
        "name",
        "status",
        "version",
        "definition",
        "created_at",
        "updated_at",
    }
    again = await h.client.post(
        "/v1/journeys",
        json={"id": "vip", "name": "VIP", "definition": _definition()},
        headers=tenant.headers,
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    paused = await h.client.post("/v1/journeys/vip/pause", headers=tenant.headers)
    assert paused.status_code == 409
    assert (await h.client.post("/v1/journeys/vip/start", headers=tenant.headers)).json()[
        "status"
    ] == "live"

    await entered(h, tenant, ["v-1", "v-3"], "vip")
    await wait_runs(h, tenant, "vip", 2)
    await worker(h).drain()
    edited = await h.client.put(
        "/v1/journeys/vip", json={"definition": _definition("second_v2")}, headers=tenant.headers
    )
    assert (edited.json()["version"], edited.json()["status"]) == (2, "live")
    await entered(h, tenant, ["v-2"], "vip")
    await wait_runs(h, tenant, "vip", 3)
    await worker(h).drain()

    await h.client.post("/v1/journeys/vip/pause", headers=tenant.headers)
    h.clock.advance(timedelta(days=1, minutes=1))
    assert await worker(h).drain() == 0  # paused: held
    (held,) = await runs(h, tenant, "vip", "v-1")
    assert (held["status"], held["current_step_id"], held["version"]) == ("active", "w", 1)
    await h.client.post("/v1/journeys/vip/resume", headers=tenant.headers)
    assert await worker(h).drain() == 3

    assert await journey_messages(h, tenant, "v-1") == [("first", "email"), ("second", "email")]
    assert await _sent_templates(h, tenant, "v-1") == ["first", "second"]  # pinned: version 1
    assert await _sent_templates(h, tenant, "v-2") == ["first", "second_v2"]
    assert await journey_messages(h, tenant, "v-3") == [("first", "email")]
    (gold,) = await runs(h, tenant, "vip", "v-3")
    assert [e["action"] for e in gold["history"]][-3:] == ["moved", "updated_profile", "completed"]
    events = await h.events(
        tenant.tenant_id, lambda found: any(e.type == "customer.upserted" for e in found)
    )
    (upsert,) = [e for e in events if e.type == "customer.upserted"]
    assert (upsert.identity.external_ids, upsert.data.properties) == (
        {"crm": "v-3"},
        {"vip_seen": True},
    )

    await entered(h, tenant, ["v-4"], "vip")
    await wait_runs(h, tenant, "vip", 4)
    archived = await h.client.post("/v1/journeys/vip/archive", headers=tenant.headers)
    assert archived.json()["status"] == "archived"
    (late,) = await runs(h, tenant, "vip", "v-4")
    assert (late["version"], late["status"], late["exit_reason"]) == (2, "exited", "archived")
    listed = await h.client.get("/v1/journeys", headers=tenant.headers)
    assert [(j["id"], j["status"], j["version"]) for j in listed.json()["items"]] == [
        ("vip", "archived", 2)
    ]
    metrics = (await h.client.get("/metrics")).text
    for name in ("runs_started_total", "runs_finished_total", "worker_lag_seconds"):
        assert f"crm_messaging_journey_{name}" in metrics
    templates = await h.client.get("/v1/journey-templates", headers=tenant.headers)
    assert [t["key"] for t in templates.json()["items"]] == [
        "abandoned_checkout",
        "f2_step_mail",
        "winback_escalation",
    ]
