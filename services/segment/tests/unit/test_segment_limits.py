"""Definition limits: refused early, cheaply, at the path and with the limit's name;
definitions at the limits still parse."""

from __future__ import annotations

import time
from typing import Any

import pytest

from crm_segment.domain.definition import parse_definition
from crm_segment.domain.errors import MAX_REPORTED, DefinitionError
from crm_segment.domain.graph import chain_length, stored_references
from crm_segment.domain.limits import DEFAULT_LIMITS, DefinitionLimits, LimitExceededError


def leaf(i: int = 0) -> dict[str, Any]:
    return {"trait": f"t{i}", "op": ">=", "value": i}


def grouped(count: int, per_group: int = 100) -> dict[str, Any]:
    """``count`` leaves in ``any`` groups of ``per_group`` under one ``all`` (the grammar
    allows 100 children per list): how the 2,000- and 6,000-leaf attacks were built."""
    groups = [
        {"any": [leaf(g * per_group + i) for i in range(min(per_group, count - g * per_group))]}
        for g in range(-(-count // per_group))
    ]
    return {"all": groups}


def refused(source: Any, limits: DefinitionLimits = DEFAULT_LIMITS) -> LimitExceededError:
    with pytest.raises(LimitExceededError) as caught:
        parse_definition(source, limits)
    return caught.value


@pytest.mark.parametrize("count", [2000, 6000])
def test_thousands_of_leaves_are_refused_at_the_first_leaf_over_the_limit(count: int) -> None:
    source = grouped(count)
    started = time.perf_counter()
    error = refused(source)
    assert time.perf_counter() - started < 0.05
    assert error.problem.path == "all[1].any[0]"  # the 101st leaf
    assert (error.problem.limit, error.problem.maximum) == ("max_definition_leaves", 100)
    assert error.errors == [
        (
            "all[1].any[0]",
            "more than 100 conditions, counting each leaf condition and each event filter"
            " (limit max_definition_leaves = 100)",
        )
    ]


def test_a_definition_at_every_limit_parses() -> None:
    limits = DEFAULT_LIMITS
    events = [
        {"event": "order.placed", "where": [{"field": "sku", "op": "in", "value": ["a"]}]}
        for _ in range(limits.max_event_conditions)
    ]
    lists = [{"trait": f"l{i}", "op": "in", "value": list(range(1000))} for i in range(4)]
    rest = limits.max_definition_leaves - 2 * len(events) - len(lists) - 1
    window = {"time": "last_order_at", "within": {"days": limits.max_duration_days}}
    flat = [*events, *lists, window, *(leaf(i) for i in range(rest))]
    source = {"all": [{"any": flat[i : i + 100]} for i in range(0, len(flat), 100)]}
    parse_definition(source)
    nested: dict[str, Any] = leaf()
    for _ in range(limits.max_definition_depth - 1):
        nested = {"not": nested}
    parse_definition(nested)


@pytest.mark.parametrize(
    ("source", "path", "limit"),
    [
        (
            {"event": "order.placed", "where": [{"field": "sku", "op": "exists"}] * 100},
            "where[99]",
            "max_definition_leaves",
        ),
        ({"trait": "sku", "op": "in", "value": list(range(1001))}, "value", "max_list_values"),
        ({"f_stage": ["F1"] * 1001}, "f_stage", "max_list_values"),
        (
            {"any": [{"trait": f"x{i}", "op": "in", "value": list(range(1000))} for i in range(6)]},
            "any[5].value",
            "max_definition_values",
        ),
        (
            {"any": [{"event": "order.placed"}] * 21},
            "any[20]",
            "max_event_conditions",
        ),
        ({"time": "t", "older_than": {"days": 3661}}, "older_than", "max_duration_days"),
        (
            {"not": {"event": "e", "window": {"last": {"weeks": 10**400}}}},
            "not.window.last",
            "max_duration_days",
        ),
        (
            {"event": "e", "where": [{"field": "sku", "op": "not_in", "value": [1] * 1001}]},
            "where[0].value",
            "max_list_values",
        ),
    ],
)
def test_each_limit_names_itself_and_the_path(source: Any, path: str, limit: str) -> None:
    error = refused(source)
    assert (error.problem.path, error.problem.limit) == (path, limit)
    assert f"(limit {limit} = " in error.errors[0][1]


def test_deep_nesting_is_refused_without_walking_it() -> None:
    node: dict[str, Any] = leaf()
    for _ in range(5000):
        node = {"not": node}
    started = time.perf_counter()
    error = refused(node)
    assert time.perf_counter() - started < 0.05
    assert error.problem.limit == "max_definition_depth"
    assert error.problem.path == ".".join(["not"] * DEFAULT_LIMITS.max_definition_depth)


def test_the_walk_stops_at_the_limit_whatever_the_input_size() -> None:
    huge = {"any": [{"trait": "x", "op": "exists"}] * 1_000_000}
    started = time.perf_counter()
    assert refused(huge).problem.path == "any[100]"
    assert time.perf_counter() - started < 0.05


def test_a_huge_invalid_definition_gets_a_short_answer() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition({"any": [{"trait": "x", "op": "~"}] * 100})
    assert len(caught.value.errors) == MAX_REPORTED


def test_chain_length_and_stored_references_walk_without_recursion() -> None:
    edges = {f"s{i}": {f"s{i - 1}"} for i in range(1, 5000)} | {"s0": set()}
    assert chain_length(edges, "s2500") == 5000
    nested: dict[str, Any] = {"segment": "deep"}
    for _ in range(5000):
        nested = {"not": nested}
    assert stored_references({"all": [nested, {"segment": "flat"}]}) == {"deep", "flat"}
