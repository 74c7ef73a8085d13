"""The service side of the limits: settings, reference chains against stored segments,
and SQL that stays far below asyncpg's 32,767 bind parameters (a list is one
parameter, whatever its length), compiled off the loop into the same text."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql

from crm_segment.config import SegmentService
from crm_segment.domain.definition import parse_definition
from crm_segment.domain.limits import DEFAULT_LIMITS, DefinitionLimits, LimitExceededError
from crm_segment.handlers.admission import check_room
from crm_segment.handlers.references import check_references
from crm_segment.repository.bulk import members_query
from crm_segment.repository.compiled import as_text

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ASYNCPG_MAX_BINDS = 32_767


def leaf(i: int = 0) -> dict[str, Any]:
    return {"trait": f"t{i}", "op": ">=", "value": i}


def refused(source: Any, limits: DefinitionLimits = DEFAULT_LIMITS) -> LimitExceededError:
    with pytest.raises(LimitExceededError) as caught:
        parse_definition(source, limits)
    return caught.value


def test_limits_come_from_the_settings() -> None:
    settings = SegmentService(max_definition_leaves=3, max_definition_depth=2)
    limits = settings.limits()
    assert refused({"all": [leaf(), leaf(), leaf(), leaf()]}, limits).problem.path == "all[3]"
    assert refused({"not": {"not": leaf()}}, limits).problem.path == "not.not"


def _rows(edges: dict[str, list[str]]) -> list[Any]:
    return [
        SimpleNamespace(segment_id=sid, definition={"all": [{"segment": t} for t in targets]})
        if targets
        else SimpleNamespace(segment_id=sid, definition=leaf())
        for sid, targets in edges.items()
    ]


def test_reference_chains_are_limited_through_the_segment_saved() -> None:
    # s5 -> s4 -> s3 -> s2 -> s1: five segments, at the limit.
    active = _rows({"s1": [], "s2": ["s1"], "s3": ["s2"], "s4": ["s3"], "s5": ["s4"]})
    check_references(parse_definition({"segment": "s4"}), "x", active)  # x, s4..s1: 5
    with pytest.raises(LimitExceededError) as caught:
        check_references(parse_definition({"any": [leaf(), {"segment": "s5"}]}), "x", active)
    assert caught.value.problem.path == "any[1].segment"
    assert caught.value.problem.limit == "max_reference_depth"
    # Editing the bottom of the chain to read another segment makes every chain above longer.
    with pytest.raises(LimitExceededError):
        check_references(parse_definition({"segment": "s0"}), "s1", [*active, *_rows({"s0": []})])
    # A preview counts the chain it would start.
    with pytest.raises(LimitExceededError):
        check_references(parse_definition({"segment": "s5"}), None, active)


def _heaviest_unit_definition(units: int) -> dict[str, Any]:
    """Event conditions whose filters are the costliest in parameters, ``units`` in all."""
    stamp = "2025-01-01T00:00:00Z"
    filters = [{"field": f"line.p{i}.q", "op": "in", "value": [stamp] * 5} for i in range(19)]
    event = {
        "event": "order.placed",
        "count": {"op": ">=", "value": 2},
        "window": {"last": {"days": 30}},
        "where": filters,
    }
    conditions = [event] * (units // 20)
    return {"all": [{"any": conditions[i : i + 100]} for i in range(0, len(conditions), 100)]}


def test_sql_at_the_highest_allowed_limits_stays_far_below_the_bind_limit() -> None:
    ceiling = {
        name: SegmentService.model_fields[name].metadata
        for name in ("max_definition_leaves", "max_event_conditions")
    }
    highest = {
        name: next(m.le for m in metadata if getattr(m, "le", None) is not None)
        for name, metadata in ceiling.items()
    }
    limits = DefinitionLimits(**highest, max_definition_values=100_000)
    definition = parse_definition(
        _heaviest_unit_definition(highest["max_definition_leaves"]), limits
    )
    compiled = members_query(definition, "shop", NOW).compile(dialect=postgresql.asyncpg.dialect())
    assert len(compiled.params) < ASYNCPG_MAX_BINDS * 0.8


def test_an_in_list_is_one_parameter_whatever_its_length() -> None:
    def binds(count: int) -> int:
        source = {"trait": "sku", "op": "in", "value": [f"v{i}" for i in range(count)]}
        statement = members_query(parse_definition(source), "shop", NOW)
        return len(statement.compile(dialect=postgresql.asyncpg.dialect()).params)

    assert binds(1) == binds(1000)


def test_compiled_text_keeps_every_parameter_and_its_type() -> None:
    source = {
        "all": [
            {"trait": "sku", "op": "in", "value": ["a", "b"]},
            {"time": "last_order_at", "within": {"days": 3}},
        ]
    }
    statement = members_query(parse_definition(source), "shop", NOW)
    direct = statement.compile(dialect=postgresql.asyncpg.dialect())
    textual = as_text(statement).compile(dialect=postgresql.asyncpg.dialect())
    assert sorted(map(repr, direct.params.values())) == sorted(map(repr, textual.params.values()))
    assert textual.string == direct.string  # the same SQL, casts included


def test_one_more_live_segment_than_the_limit_is_refused() -> None:
    limits = DefinitionLimits(max_live_segments=2)
    one = [SimpleNamespace(kind="dynamic"), SimpleNamespace(kind="snapshot")]
    check_room(one, limits, "kind")  # snapshots are never evaluated per change
    with pytest.raises(LimitExceededError) as caught:
        check_room([*one, SimpleNamespace(kind="dynamic")], limits, "status")
    assert (caught.value.problem.path, caught.value.problem.limit) == (
        "status",
        "max_live_segments",
    )
