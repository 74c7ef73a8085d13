"""The in-memory evaluator on hand-written profiles, and its algebraic laws."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from segment_cases import CASES, NOW, TEA, ago, iso, order
from segment_strategies import definitions_json, profiles

from crm_segment.domain.definition import parse_definition
from crm_segment.domain.evaluate import EventView, ProfileView, evaluate


@pytest.mark.parametrize(
    ("definition", "view", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hand_written_cases(definition: dict[str, Any], view: ProfileView, expected: bool) -> None:
    assert evaluate(parse_definition(definition), view, NOW) is expected


def test_category_bought_twice_in_sixty_days_moves_with_the_clock() -> None:
    definition = parse_definition(
        {
            "event": "order.placed",
            "where": [{"field": "category", "op": "=", "value": "tea"}],
            "count": {"op": ">=", "value": 2},
            "window": {"last": {"days": 60}},
        }
    )
    view = ProfileView({}, (order(10, "1", TEA), order(50, "1", TEA)))
    assert evaluate(definition, view, NOW) is True
    assert evaluate(definition, view, NOW + timedelta(days=10) - timedelta(microseconds=1)) is True
    assert evaluate(definition, view, NOW + timedelta(days=10)) is False


def test_events_of_other_types_do_not_count() -> None:
    definition = parse_definition({"event": "checkout.started"})
    assert evaluate(definition, ProfileView({}, (order(1),)), NOW) is False
    started = EventView("checkout.started", ago(1))
    assert evaluate(definition, ProfileView({}, (started,)), NOW) is True


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(parse_definition({"segment": "s"}), ProfileView({}), datetime(2025, 1, 1))


def test_time_conditions_compare_instants_across_offsets() -> None:
    definition = parse_definition({"time": "last_order_at", "older_than": {"days": 90}})
    exactly = ago(90).astimezone(timezone(timedelta(hours=9))).isoformat()  # same instant, JST
    assert evaluate(definition, ProfileView({"last_order_at": exactly}), NOW) is True
    assert (
        evaluate(
            definition, ProfileView({"last_order_at": iso(ago(90) + timedelta(seconds=1))}), NOW
        )
        is False
    )


@settings(max_examples=200)
@given(definitions_json, profiles)
def test_not_is_plain_negation(source: dict[str, Any], view: ProfileView) -> None:
    definition = parse_definition(source)
    negated = parse_definition({"not": source})
    assert evaluate(negated, view, NOW) is not evaluate(definition, view, NOW)


@settings(max_examples=200)
@given(definitions_json, definitions_json, profiles)
def test_all_and_any_are_conjunction_and_disjunction(
    left: dict[str, Any], right: dict[str, Any], view: ProfileView
) -> None:
    a = evaluate(parse_definition(left), view, NOW)
    b = evaluate(parse_definition(right), view, NOW)
    assert evaluate(parse_definition({"all": [left, right]}), view, NOW) is (a and b)
    assert evaluate(parse_definition({"any": [left, right]}), view, NOW) is (a or b)


@settings(max_examples=200)
@given(definitions_json, profiles)
def test_event_order_does_not_matter(source: dict[str, Any], view: ProfileView) -> None:
    definition = parse_definition(source)
    reversed_view = ProfileView(view.traits, tuple(reversed(view.events)), view.segments)
    assert evaluate(definition, reversed_view, NOW) is evaluate(definition, view, NOW)
