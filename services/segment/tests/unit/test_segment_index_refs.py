"""references(): what a definition reads, for routing changes to segments."""

from __future__ import annotations

from crm_segment.domain.definition import parse_definition
from crm_segment.domain.index import Refs, references
from crm_segment.domain.templates import get_template

MIXED = {
    "all": [
        {"trait": "properties.vip", "op": "exists"},
        {"not": {"rfm": "rank", "op": "in", "value": ["A"]}},
        {"any": [{"consent": "email"}, {"f_stage": "F2"}, {"segment": "seg_9"}]},
        {"event": "order.placed", "window": {"from": "2025-01-01"}},
        {"time": "first_order_at", "between": ["2025-01-01", "2025-02-01"]},
    ]
}


def test_references_collect_fields_events_and_segments() -> None:
    assert references(parse_definition(MIXED)) == Refs(
        fields=frozenset(
            {"properties.vip", "rfm_rank", "consent_email", "f_stage", "first_order_at"}
        ),
        event_types=frozenset({"order.placed"}),
        segment_ids=frozenset({"seg_9"}),
        time_dependent=False,
    )


def test_relative_time_and_event_windows_are_time_dependent() -> None:
    assert references(get_template("dormant_customers").definition).time_dependent is True
    window = {"event": "order.placed", "window": {"last": {"days": 60}}}
    assert references(parse_definition(window)).time_dependent is True
    assert references(get_template("loyal_customers").definition).time_dependent is False


def test_field_changes_match_by_dotted_prefix() -> None:
    refs = references(parse_definition(MIXED))
    assert refs.affected_by_fields(["properties"]) is True
    assert refs.affected_by_fields(["properties.vip.level"]) is True
    assert refs.affected_by_fields(["properties.vipx", "email", "orders_count"]) is False
    assert refs.affected_by_event("order.placed") is True
    assert refs.affected_by_event("checkout.started") is False
