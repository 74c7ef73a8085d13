"""The live catalog, segment references and one profile's evaluation pass (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from segment_strategies import NOW, definitions_json, profiles

from crm_segment.domain.catalog import build_catalog
from crm_segment.domain.definition import parse_definition
from crm_segment.domain.evaluate import ProfileView, evaluate
from crm_segment.domain.graph import find_cycle, segment_references, topological_order
from crm_segment.domain.membership import (
    Pending,
    eligible,
    evaluate_batch,
    moved_segments,
    sweep_batch,
)
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
    [outcome] = evaluate_batch(cat, [Pending(traits, (), frozenset({"not_spent"}))], NOW)
    assert outcome.entered == ("spent",)
    assert outcome.exited == ("not_spent",)
    assert outcome.next_change_at == NOW + timedelta(days=10)


def test_deleted_or_redacted_profiles_leave_every_segment() -> None:
    cat = catalog({"anyone": {"not": {"trait": "x", "op": "exists"}}})
    assert eligible({"deleted": False}) and not eligible({"redacted": True})
    [outcome] = evaluate_batch(cat, [Pending({"deleted": True}, (), frozenset({"anyone"}))], NOW)
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


def _one_by_one(
    cat: Any, definitions: dict[str, Any], view: ProfileView, wanted: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The reference pass: ``evaluate`` per segment in catalog order, seeing the
    decisions made before it."""
    members, entered, exited = set(view.segments), [], []
    for segment_id in cat.closure(wanted):
        current = ProfileView(view.traits, view.events, frozenset(members))
        value = eligible(view.traits) and evaluate(definitions[segment_id], current, NOW)
        if value != (segment_id in members):
            (entered if value else exited).append(segment_id)
            (members.add if value else members.discard)(segment_id)
    return tuple(entered), tuple(exited)


def _no_refs(definition: dict[str, Any]) -> bool:
    return "segment" not in str(definition)


@settings(max_examples=300, deadline=None, database=None)
@given(
    first=definitions_json.filter(_no_refs),
    second=definitions_json,
    third=definitions_json,
    views=st.lists(profiles, min_size=1, max_size=10),
    subsets=st.lists(st.sets(st.sampled_from(["seg_a", "seg_b", "seg_c"])), min_size=10),
)
def test_a_batch_pass_equals_evaluating_each_profile_in_order(
    first: dict[str, Any],
    second: dict[str, Any],
    third: dict[str, Any],
    views: list[ProfileView],
    subsets: list[set[str]],
) -> None:
    # seg_b may read seg_a, seg_c either: no cycle (strategies reference seg_a and seg_b).
    second = second if "seg_b" not in str(second) else first
    definitions = {
        sid: parse_definition(d)
        for sid, d in (("seg_a", first), ("seg_b", second), ("seg_c", third))
    }
    cat = build_catalog(1, definitions)
    pending = [
        Pending(view.traits, view.events, view.segments, frozenset(subsets[i]) or None)
        for i, view in enumerate(views)
    ]
    outcomes = evaluate_batch(cat, pending, NOW)
    for view, wanted, outcome in zip(views, subsets, outcomes, strict=False):
        expected = _one_by_one(cat, definitions, view, sorted(wanted or cat.order))
        assert (outcome.entered, outcome.exited) == expected


def test_the_sweep_evaluates_only_segments_whose_clock_moved() -> None:
    cat = catalog(
        {
            "dormant": DORMANT,
            "recent": {"time": "last_order_at", "within": {"days": 30}},
            "spent": {"trait": "total_spent", "op": ">=", "value": 5000},
            "dormant_spenders": {"all": [{"segment": "dormant"}, {"segment": "spent"}]},
        }
    )
    last = NOW - timedelta(days=90)
    traits = {"total_spent": "6000", "last_order_at": last.isoformat()}
    # Due since day 90: dormant flips (and its reader follows); "recent" flipped at day
    # 30, long before, and "spent" (wrongly stored as not a member) is not looked at.
    moved = moved_segments(cat, [traits], [()], [last + timedelta(days=89)], NOW)
    assert moved.segments == [frozenset({"dormant", "dormant_spenders"})]
    assert moved.needed == {"dormant", "dormant_spenders", "spent"}
    [outcome] = sweep_batch(cat, moved, [frozenset({"recent"})])
    assert outcome.entered == ("dormant",)
    assert outcome.exited == ()
    assert outcome.next_change_at is None  # no clock of this profile is ahead of now


def test_the_sweep_also_decides_every_segment_being_filled() -> None:
    """A swept profile is claimed for the segments jobs are filling, and a fill chunk
    leaves a claimed profile alone: the sweep decides them too, clock or not."""
    definitions = {
        "dormant": DORMANT,
        "spent": {"trait": "total_spent", "op": ">=", "value": 5000},
        "big": {"segment": "spent"},
    }
    cat = build_catalog(
        1, {k: parse_definition(v) for k, v in definitions.items()}, filling=["spent"]
    )
    assert cat.fill_order == ("spent", "big")  # a reader of a filled segment is refilled
    last = NOW - timedelta(days=90)
    traits = {"total_spent": "6000", "last_order_at": last.isoformat()}
    since = [last + timedelta(days=89)]
    moved = moved_segments(cat, [traits], [()], since, NOW, cat.filling)
    assert moved.segments == [frozenset({"dormant", "spent", "big"})]
    [outcome] = sweep_batch(cat, moved, [frozenset()])
    assert set(outcome.entered) == {"dormant", "spent", "big"}
