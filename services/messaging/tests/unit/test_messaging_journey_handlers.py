"""Pure parts of the journey handlers: error paths that name the step, template
installation with overrides, the trigger index, reachable channels."""

from __future__ import annotations

from typing import Any

import pytest

from crm_common.events.customers import Channel
from crm_messaging.domain.journeys import winback_escalation
from crm_messaging.handlers.errors import Invalid, NotFound
from crm_messaging.handlers.journeys import installed_definition, parse_definition, trigger_of
from crm_messaging.handlers.journeys_entry import reachable


def _steps(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"trigger": {"kind": "event", "event_type": "order.placed"}, "steps": list(steps)}


def _paths(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(Invalid) as caught:
        parse_definition(raw, "j", "J")
    return [d["path"] for d in caught.value.details]


def test_parse_errors_name_the_step_and_field_without_union_tags() -> None:
    raw = _steps(
        {"kind": "send", "id": "a", "channel": "fax", "template_id": "t", "next": "b"},
        {"kind": "wait", "id": "b", "wait": {"kind": "duration", "duration": "soon"}},
        {"kind": "branch", "id": "c", "condition": {"kind": "trait", "trait": "x", "op": "~"}},
    )
    assert _paths(raw) == ["steps[0].channel", "steps[1].wait.duration", "steps[2].condition.op"]
    assert _paths({**_steps(), "goals": [{"kind": "purchase", "match": "x"}]}) == ["goals[0].match"]
    assert _paths({"steps": []}) == ["trigger"]


def test_domain_problems_point_at_the_step_field() -> None:
    raw = _steps(
        {"kind": "send", "id": "a", "channel": "email", "next": "b"},
        {"kind": "wait", "id": "b", "wait": {"kind": "duration", "duration": "PT0S"}},
    )
    assert _paths(raw) == ["steps[0].template_id", "steps[1].wait.duration"]
    assert _paths(_steps()) == ["definition"]


def test_install_overrides_segment_and_templates_by_step_or_template_id() -> None:
    defn = installed_definition(
        "winback_escalation",
        segment_id="seg-9",
        template_ids={"email_1": "hello", "winback_sms": "sms-1", "winback_dm": "dm-1"},
    )
    parsed = parse_definition(defn, "wb", "WB")
    assert trigger_of(parsed) == ("segment_entered", "seg-9")
    sends = {s.id: s for s in parsed.steps if s.kind == "send"}
    assert sends["email_1"].template_id == "hello"
    assert sends["email_2"].template_id == "winback_email_2"
    assert sends["line"].alternatives[0].template_id == "sms-1"
    assert sends["dm"].template_id == "dm-1"
    assert len(parsed.steps) == len(winback_escalation().steps)
    with pytest.raises(NotFound):
        installed_definition("nope")


def test_reachable_channels_need_an_address_and_no_refusal() -> None:
    traits = {
        "email": "a@example.jp",
        "phone": "+819012345678",
        "consent_email": "subscribed",
        "consent_sms": "never",
        "consent_line": "subscribed",
        "consent_call": "unsubscribed",
        "address_postal_code": "100-0001",
        "address_prefecture": "東京都",
        "address_city": "千代田区",
        "address_address1": "1-1",
    }
    assert reachable(traits) == frozenset({Channel.EMAIL, Channel.POSTAL_DM})
    assert reachable({}) is None
