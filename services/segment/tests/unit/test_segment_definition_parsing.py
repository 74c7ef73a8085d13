"""Parsing segment definitions: valid JSON becomes models, errors name their path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from segment_strategies import definitions_json

from crm_segment.domain.definition import (
    AllOf,
    EventCondition,
    NotOf,
    TimeCondition,
    TraitCondition,
    parse_definition,
)
from crm_segment.domain.errors import DefinitionError
from crm_segment.domain.limits import DEFAULT_LIMITS
from crm_segment.domain.values import ValueKind


def errors_of(source: Any) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(source)
    return caught.value.errors


def test_a_full_definition_parses_into_typed_models() -> None:
    parsed = parse_definition(
        """{"all": [{"trait": "total_spent", "op": ">=", "value": "5000"},
                    {"time": "last_order_at", "older_than": {"days": 90}},
                    {"not": {"segment": "seg_1"}},
                    {"event": "order.placed",
                     "window": {"from": "2025-01-01", "to": "2025-02-01"}}]}"""
    )
    root = parsed.root
    assert isinstance(root, AllOf)
    trait, time, negation, event = root.all
    assert isinstance(trait, TraitCondition)
    assert trait.operands() == (ValueKind.NUMBER, (5000,))
    assert isinstance(time, TimeCondition) and time.older_than is not None
    assert time.older_than.as_timedelta().days == 90
    assert isinstance(negation, NotOf)
    assert isinstance(event, EventCondition) and event.window is not None
    assert event.window.from_ == datetime(2025, 1, 1, tzinfo=UTC)
    assert (event.count.op, event.count.value, event.performed) == (">=", 1, True)


def test_the_error_path_names_the_offending_value() -> None:
    source = {
        "all": [
            {"trait": "a", "op": "exists"},
            {"trait": "b", "op": "exists"},
            {"any": [{"trait": "total_spent", "op": "between", "value": [5000, 100]}]},
        ]
    }
    assert errors_of(source) == [
        ("all[2].any[0].value", "between needs two ordered values: low <= high")
    ]


@pytest.mark.parametrize(
    ("source", "path", "message_start"),
    [
        ({"trait": "x", "op": "~", "value": 1}, "op", "unknown operator '~'"),
        ({"all": []}, "all", "all needs at least one condition"),
        ({"any": [{"foo": 1}]}, "any[0]", "expected an object with one of the keys all, any"),
        ({"not": {"trait": "x", "op": "in", "value": 3}}, "not.value", "operator in needs a list"),
        ({"trait": "x", "op": "=", "value": [1]}, "value", "operator = needs a single value"),
        ({"trait": "x", "op": "="}, "value", "operator = needs a single value"),
        ({"trait": "x", "op": "exists", "value": 1}, "value", "operator exists takes no value"),
        ({"trait": "x", "op": "<", "value": True}, "value", "operator < needs numbers"),
        ({"trait": "x", "op": "in", "value": [1, "abc"]}, "value", "values mix kinds"),
        ({"trait": "x", "op": "in", "value": ["a", "b\x00"]}, "value", "value must be a number"),
        ({"trait": "x", "op": "=", "value": 2**63}, "value", "value must be a number"),
        (
            {"trait": "x", "op": ">", "value": "9" * 256, "type": "number"},
            "value",
            "'99999",
        ),
        ({"trait": "x\x00", "op": "exists"}, "trait", "field path 'x\\x00' has a NUL"),
        ({"segment": "seg_\x00"}, "segment", "String should match pattern"),
        (
            {"time": "t", "between": ["2020-01-01", "9999-12-31T23:00:00-14:00"]},
            "between[1]",
            "'9999-12-31T23:00:00-14:00' is outside the years 1000 to 9999 in UTC",
        ),
        (
            {"trait": "x", "op": "=", "value": "abc", "type": "number"},
            "value",
            "'abc' is not a number",
        ),
        ({"trait": "x", "op": "contains", "value": 3}, "value", "operator contains needs a text"),
        (
            {"trait": "x", "op": "between", "value": [1]},
            "value",
            "operator between needs a list of two",
        ),
        ({"trait": "a..b", "op": "exists"}, "trait", "invalid field path segment ''"),
        ({"trait": "tags.0", "op": "exists"}, "trait", "invalid field path segment '0'"),
        ({"trait": "x", "op": "exists", "extra": 1}, "extra", "Extra inputs are not permitted"),
        ({"time": "t", "older_than": {"days": 0}}, "older_than", "duration must be positive"),
        ({"time": "t", "within": {"days": -1}}, "within.days", "Input should be greater than"),
        ({"time": "t"}, "", "give exactly one of older_than, within, between"),
        (
            {"time": "t", "between": ["2025-02-01", "2025-01-01"]},
            "between",
            "between needs two ordered",
        ),
        (
            {"time": "t", "between": ["2025-01-01T00:00:00", "2025-02-01"]},
            "between[0]",
            "'2025-01-01T00:00:00' is not a date",
        ),
        (
            {"event": "order.placed", "window": {"last": {"hours": 0}}},
            "window.last",
            "duration must be positive",
        ),
        ({"event": "order.placed", "window": {}}, "window", "window needs either last or from/to"),
        (
            {"event": "order.placed", "count": {"op": "~", "value": 1}},
            "count.op",
            "unknown operator '~'",
        ),
        (
            {"event": "order.placed", "count": {"value": -1}},
            "count.value",
            "Input should be greater",
        ),
        ({"event": "Order Placed"}, "event", "String should match pattern"),
        (
            {
                "event": "order.placed",
                "where": [
                    {"field": "amount", "op": ">", "value": "x"},
                    {"field": "sku", "op": "<", "value": False},
                ],
            },
            "where[1].value",
            "operator < needs numbers",
        ),
        (
            {"rfm": "rank", "op": "in", "value": ["A", "F"]},
            "value",
            "'F' is not one of A, B, C, D, E",
        ),
        ({"rfm": "rank", "op": ">", "value": "A"}, "value", "operator > does not apply to ranks"),
        ({"rfm": "recency", "op": "=", "value": 6}, "value", "6 is not one of 1, 2, 3, 4, 5"),
        ({"f_stage": "F4"}, "f_stage[0]", "Input should be"),
        ({"consent": "sms", "state": "nope"}, "state[0]", "Input should be"),
        ({"trait": "x", "op": "=", "value": {"a": 1}}, "value", "value must be a number, text"),
        ({"consent": "fax"}, "consent", "Input should be"),
        ({"segment": ""}, "segment", "String should have at least 1 character"),
        ([1, 2], "", "expected an object with one of the keys"),
    ],
)
def test_each_error_names_its_path(source: Any, path: str, message_start: str) -> None:
    errors = errors_of(source)
    assert [p for p, _ in errors] == [path]
    assert errors[0][1].startswith(message_start), errors[0][1]


def test_every_problem_is_reported_at_once() -> None:
    source = {"all": [{"trait": "x", "op": "?"}, {"segment": 5}, {"time": "t", "within": {}}]}
    assert [path for path, _ in errors_of(source)] == [
        "all[0].op",
        "all[1].segment",
        "all[2].within",
    ]


def test_invalid_json_is_a_definition_error() -> None:
    [(path, message)] = errors_of('{"all": [')
    assert path == ""
    assert message.startswith("invalid JSON: ")


def test_nesting_deeper_than_the_limit_names_the_first_too_deep_node() -> None:
    depth = DEFAULT_LIMITS.max_definition_depth
    node: dict[str, Any] = {"trait": "x", "op": "exists"}
    for _ in range(depth - 1):
        node = {"all": [node]}
    parse_definition(node)  # exactly at the limit
    assert errors_of({"any": [{"trait": "y", "op": "exists"}, node]}) == [
        (
            "any[1]" + ".all[0]" * (depth - 1),
            f"conditions nest deeper than {depth} levels (limit max_definition_depth = {depth})",
        )
    ]


def test_error_message_lists_paths() -> None:
    with pytest.raises(DefinitionError, match=r"^all\[0\]\.op: unknown operator"):
        parse_definition({"all": [{"trait": "x", "op": "?"}]})


def test_absolute_bounds_are_normalised_to_utc() -> None:
    parsed = parse_definition({"time": "t", "between": ["2025-01-01T09:00:00+09:00", "2025-01-02"]})
    assert isinstance(parsed.root, TimeCondition)
    assert parsed.root.between == (
        datetime(2025, 1, 1, 0, 0, tzinfo=UTC),
        datetime(2025, 1, 2, 0, 0, tzinfo=UTC),
    )
    assert parsed.to_json_obj() == {
        "time": "t",
        "between": ["2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"],
    }


@settings(max_examples=200)
@given(definitions_json)
def test_canonical_json_round_trips(source: dict[str, Any]) -> None:
    parsed = parse_definition(source)
    assert parse_definition(orjson.dumps(parsed.to_json_obj())) == parsed
