"""next_change_at: exact moments for single conditions, safe bounds for trees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from segment_cases import COFFEE, NOW, TEA, ago, iso, order
from segment_strategies import definitions_json, event_leaf, profiles, time_leaf

from crm_segment.domain.definition import parse_definition
from crm_segment.domain.evaluate import EventView, ProfileView, evaluate
from crm_segment.domain.templates import get_template
from crm_segment.domain.timing import next_change_at

LAST_ORDER = datetime(2025, 6, 5, 8, 30, 15, tzinfo=UTC)  # ten days and a bit before NOW
TEA_TWICE = {
    "event": "order.placed",
    "where": [{"field": "category", "op": "=", "value": "tea"}],
    "count": {"op": ">=", "value": 2},
    "window": {"last": {"days": 60}},
}


def change(source: Any, view: ProfileView) -> datetime | None:
    return next_change_at(parse_definition(source), view, NOW)


def test_older_than_becomes_true_at_the_boundary() -> None:
    view = ProfileView({"last_order_at": iso(LAST_ORDER)})
    source = {"time": "last_order_at", "older_than": {"days": 90}}
    assert change(source, view) == datetime(2025, 9, 3, 8, 30, 15, tzinfo=UTC)


def test_older_than_already_true_never_changes() -> None:
    view = ProfileView({"last_order_at": iso(ago(91))})
    assert change({"time": "last_order_at", "older_than": {"days": 90}}, view) is None


def test_within_becomes_false_at_the_boundary() -> None:
    view = ProfileView({"first_order_at": "2025-06-05T17:30:15+09:00"})
    source = {"time": "first_order_at", "within": {"days": 30, "hours": 1}}
    assert change(source, view) == datetime(2025, 7, 5, 9, 30, 15, tzinfo=UTC)


def test_missing_timestamp_and_absolute_ranges_never_change() -> None:
    assert change({"time": "first_order_at", "within": {"days": 30}}, ProfileView({})) is None
    between = {"time": "first_order_at", "between": ["2025-01-01", "2025-12-31"]}
    assert change(between, ProfileView({"first_order_at": iso(ago(1))})) is None
    assert change({"trait": "orders_count", "op": "=", "value": 1}, ProfileView({})) is None


def test_dormant_template_waits_for_ninety_days() -> None:
    dormant = get_template("dormant_customers").definition
    rich = ProfileView({"total_spent": "6000", "last_order_at": iso(LAST_ORDER)})
    assert next_change_at(dormant, rich, NOW) == LAST_ORDER + timedelta(days=90)
    poor = ProfileView({"total_spent": "100", "last_order_at": iso(LAST_ORDER)})
    assert next_change_at(dormant, poor, NOW) is None  # the spend keeps it out for good


def test_f2_candidate_leaves_after_thirty_days() -> None:
    f2 = get_template("f2_candidates").definition
    view = ProfileView({"orders_count": 1, "last_order_at": iso(LAST_ORDER)})
    assert next_change_at(f2, view, NOW) == LAST_ORDER + timedelta(days=30)


def test_event_window_change_is_when_the_count_stops_passing() -> None:
    three = ProfileView({}, (order(1, "1", TEA), order(20, "1", TEA), order(59, "1", TEA)))
    # 59 days ago leaves after 1 day (2 left, still true); 20 days ago after 40 days.
    assert change(TEA_TWICE, three) == NOW + timedelta(days=40)
    once = ProfileView({}, (order(5, "1", TEA), order(6, "1", COFFEE)))
    assert change(TEA_TWICE, once) is None  # false now, and time only removes events


def test_not_performed_becomes_true_when_the_last_event_leaves() -> None:
    source = {"event": "order.placed", "performed": False, "window": {"last": {"days": 30}}}
    view = ProfileView({}, (order(3), order(10)))
    assert change(source, view) == NOW + timedelta(days=27)


def test_any_changes_when_its_last_true_child_changes() -> None:
    source = {
        "any": [
            {"time": "first_order_at", "within": {"days": 30}},
            {"time": "last_order_at", "within": {"days": 30}},
            {"time": "last_order_at", "older_than": {"days": 90}},
        ]
    }
    view = ProfileView({"first_order_at": iso(ago(25)), "last_order_at": iso(ago(10))})
    assert change(source, view) == NOW + timedelta(days=20)


def test_all_false_waits_for_every_false_child() -> None:
    source = {
        "all": [
            {"time": "first_order_at", "older_than": {"days": 30}},
            {"time": "last_order_at", "older_than": {"days": 30}},
        ]
    }
    view = ProfileView({"first_order_at": iso(ago(25)), "last_order_at": iso(ago(10))})
    assert change(source, view) == NOW + timedelta(days=20)
    assert evaluate(parse_definition(source), view, NOW + timedelta(days=20)) is True


@settings(max_examples=300)
@given(definitions_json, profiles, st.floats(0.0, 1.0))
def test_nothing_changes_before_next_change_at(
    source: dict[str, Any], view: ProfileView, fraction: float
) -> None:
    definition = parse_definition(source)
    moment = next_change_at(definition, view, NOW)
    horizon = moment if moment is not None else NOW + timedelta(days=400)
    assert moment is None or moment > NOW
    before = NOW + (horizon - NOW) * fraction
    if before >= horizon:
        before = horizon - timedelta(microseconds=1)
    assert evaluate(definition, view, before) is evaluate(definition, view, NOW)
    if moment is None:
        assert evaluate(definition, view, horizon) is evaluate(definition, view, NOW)


@settings(max_examples=300)
@given(st.one_of(time_leaf(), event_leaf()), profiles)
def test_a_single_condition_really_changes_at_next_change_at(
    source: dict[str, Any], view: ProfileView
) -> None:
    definition = parse_definition(source)
    moment = next_change_at(definition, view, NOW)
    if moment is not None:
        assert evaluate(definition, view, moment) is not evaluate(definition, view, NOW)
        just_before = moment - timedelta(microseconds=1)
        assert evaluate(definition, view, just_before) is evaluate(definition, view, NOW)


def test_a_boundary_past_year_9999_is_no_boundary() -> None:
    near_the_end = ProfileView({"t": "9999-12-01T00:00:00Z"})
    assert change({"time": "t", "within": {"days": 90}}, near_the_end) is None
    late = ProfileView({}, [order(0), EventView("order.placed", datetime(9999, 12, 1, tzinfo=UTC))])
    twice = {
        "event": "order.placed",
        "count": {"op": ">=", "value": 2},
        "window": {"last": {"days": 90}},
    }
    assert change(twice, late) == ago(0) + timedelta(days=90)  # the other never leaves
