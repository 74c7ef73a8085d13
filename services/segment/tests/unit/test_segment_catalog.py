"""The live catalog, segment references and one profile's evaluation pass (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from segment_strategies import NOW, definitions_json, profiles

from crm_segment.domain.catalog import build_catalog
from crm_segment.domain.definition import parse_definition
from crm_segment.domain.evaluate import ProfileView, evaluate
from crm_segment.domain.graph import find_cycle, segment_references, topological_order
from crm_segment.domain.membership import eligible, evaluate_profile
from crm_segment.domain.timing import next_change_at, outlook

DORMANT = {
    "all": [
        {"trait": "total_spent", "op": ">=", "value": 5000},
        {"time": "last_order_at", "older_than": {"days": 90}},
    ]
}


def catalog(definitions: dict[str, Any]) -> Any:
    return build_catalog(1, {k: parse_definition(v) for k, v in definitions.items()})


def test_references_carry_their_paths() -> None:
    definition = parse_definition(
        {
            "all": [
                {"segment": "a"},
                {"not": {"any": [{"trait": "x", "op": "exists"}, {"segment": "b"}]}},
            ]
        }
    )
    assert segment_references(definition) == [
        ("all[0].segment", "a"),
        ("all[1].not.any[1].segment", "b"),
    ]
    assert segment_references(parse_definition({"segment": "c"})) == [("segment", "c")]


def test_cycles_are_found_from_the_segment_being_saved() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(edges, "a") == ["a", "b", "c", "a"]
    assert find_cycle(edges, "d") is None
    assert find_cycle({"a": {"a"}}, "a") == ["a", "a"]
    with pytest.raises(ValueError, match="cycle"):
        topological_order(edges)
    assert topological_order({"x": {"y", "unknown"}, "y": set()}) == ["y", "x"]


def test_the_catalog_routes_changes_to_segments_and_their_dependents_in_order() -> None:
    cat = catalog(
        {
            "spent": {"trait": "total_spent", "op": ">=", "value": 5000},
            "vip": {"trait": "properties.vip", "op": "=", "value": True},
            "tea": {
                "event": "order.placed",
                "where": [{"field": "category", "op": "=", "value": "tea"}],
            },
            "both": {"all": [{"segment": "spent"}, {"segment": "tea"}]},
            "either": {"any": [{"segment": "both"}, {"segment": "vip"}]},
            "dormant": DORMANT,
            "dormant_fans": {"all": [{"segment": "dormant"}, {"segment": "vip"}]},
        }
    )
    assert cat.by_fields(["total_spent"]) == {"spent", "dormant"}
    assert cat.by_fields(["properties"]) == {"vip"}
    assert cat.by_fields(["orders_count"]) == set()
    assert cat.by_event("order.placed") == {"tea"}
    assert cat.closure({"spent"}) == ["spent", "both", "either"]
    # Dependency order: every segment after those it reads (ties by id).
    assert cat.closure({"tea", "vip"}) == ["tea", "both", "vip", "dormant_fans", "either"]
    assert cat.time_dependent == {"dormant", "dormant_fans"}
    assert cat.downstream_of("frozen_list") == []


def test_one_pass_lets_a_segment_see_memberships_decided_before_it() -> None:
    cat = catalog(
        {
            "spent": {"trait": "total_spent", "op": ">=", "value": 5000},
            "not_spent": {"not": {"segment": "spent"}},
            "dormant": DORMANT,
        }
    )
    traits = {"total_spent": "6000", "last_order_at": (NOW - timedelta(days=80)).isoformat()}
    outcome = evaluate_profile(cat, cat.order, traits, (), frozenset({"not_spent"}), NOW)
    assert outcome.entered == ("spent",)
    assert outcome.exited == ("not_spent",)
    assert outcome.members == {"spent"}
    assert outcome.next_change_at == NOW + timedelta(days=10)


def test_deleted_or_redacted_profiles_leave_every_segment() -> None:
    cat = catalog({"anyone": {"not": {"trait": "x", "op": "exists"}}})
    assert eligible({"deleted": False}) and not eligible({"redacted": True})
    outcome = evaluate_profile(cat, cat.order, {"deleted": True}, (), frozenset({"anyone"}), NOW)
    assert (outcome.entered, outcome.exited) == ((), ("anyone",))


@settings(max_examples=300, deadline=None, database=None)
@given(definition=definitions_json, view=profiles)
def test_outlook_is_evaluate_and_next_change_at_in_one_walk(
    definition: dict[str, Any], view: ProfileView
) -> None:
    parsed = parse_definition(definition)
    assert outlook(parsed, view, NOW) == (
        evaluate(parsed, view, NOW),
        next_change_at(parsed, view, NOW),
    )


def test_outlook_needs_an_aware_now() -> None:
    with pytest.raises(ValueError):
        outlook(parse_definition(DORMANT), ProfileView({}), datetime(2025, 1, 1))
    assert outlook(
        parse_definition(DORMANT), ProfileView({}), datetime(2025, 1, 1, tzinfo=UTC)
    ) == (
        False,
        None,
    )
