"""The compiled closures give exactly what the tree-walking evaluator gives.

``check`` against :func:`evaluate` over random definitions (every operator,
shorthands, events with filters and windows, nesting) and messy profiles; the
sources' edges are the only moments at which time alone can change a value, and
the exact next change (:func:`timing.outlook`) is always one of them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from segment_cases import CASES
from segment_strategies import NOW, boundary_cases, definitions_json, offsets, profiles

from crm_segment.domain.compiled import Compiled, Compiler, batch_of, positions
from crm_segment.domain.definition import parse_definition
from crm_segment.domain.evaluate import EventView, ProfileView, evaluate
from crm_segment.domain.templates import TEMPLATES
from crm_segment.domain.timing import outlook

SETTINGS = settings(
    max_examples=600,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def edges(compiled: Compiled, view: ProfileView) -> set[datetime]:
    batch, _ = batch_of([view], NOW)
    return {moment for source in compiled.sources for _, moment in source.edges(batch)}


def selected(compiled: Compiled, views: list[ProfileView]) -> list[bool]:
    """The compiled value of each view, evaluated together as one batch."""
    batch, members = batch_of(views, NOW)
    found = set(positions(compiled.check(batch, members), batch.size))
    return [index in found for index in range(len(views))]


@SETTINGS
@given(definition=definitions_json, views=st.lists(profiles, min_size=1, max_size=12))
def test_check_equals_evaluate(definition: dict[str, Any], views: list[ProfileView]) -> None:
    parsed = parse_definition(definition)
    expected = [evaluate(parsed, view, NOW) for view in views]
    assert selected(Compiler().compile(parsed), views) == expected


@settings(max_examples=300, deadline=None, database=None)
@given(case=boundary_cases())
def test_compiled_agrees_exactly_at_time_boundaries(
    case: tuple[dict[str, Any], list[ProfileView]],
) -> None:
    definition, views = case
    parsed = parse_definition(definition)
    expected = [evaluate(parsed, view, NOW) for view in views]
    assert selected(Compiler().compile(parsed), views) == expected


@SETTINGS
@given(definition=definitions_json, view=profiles, first=offsets, second=offsets)
def test_values_change_only_at_edges(
    definition: dict[str, Any], view: ProfileView, first: timedelta, second: timedelta
) -> None:
    parsed = parse_definition(definition)
    early, late = sorted((NOW + first, NOW + second))
    if any(early < moment <= late for moment in edges(Compiler().compile(parsed), view)):
        return
    assert evaluate(parsed, view, early) == evaluate(parsed, view, late)


@SETTINGS
@given(definition=definitions_json, view=profiles)
def test_the_next_change_is_an_edge(definition: dict[str, Any], view: ProfileView) -> None:
    parsed = parse_definition(definition)
    _, moment = outlook(parsed, view, NOW)
    if moment is not None:
        assert moment in edges(Compiler().compile(parsed), view)


def test_the_hand_written_cases_in_one_batch() -> None:
    compiler = Compiler()
    views = [view for _, _, view, _ in CASES]
    for index, (name, definition, _, expected) in enumerate(CASES):
        answers = selected(compiler.compile(parse_definition(definition)), views)
        assert answers[index] is expected, name


def test_templates_compile_and_agree() -> None:
    view = ProfileView(
        {
            "orders_count": 3,
            "total_spent": "52000",
            "rfm_rank": "A",
            "f_stage": "F3+",
            "last_order_at": (NOW - timedelta(days=120)).isoformat(),
            "consent_email": "subscribed",
        },
        (EventView("order.placed", NOW - timedelta(days=120), {"total": "3000"}),),
    )
    compiler = Compiler()
    for template in TEMPLATES:
        compiled = compiler.compile(template.definition)
        expected = evaluate(template.definition, view, NOW)
        assert selected(compiled, [view, ProfileView({})]) == [expected, False], template.key


def test_edges_are_the_moments_relative_conditions_flip() -> None:
    definition = parse_definition(
        {
            "all": [
                {"time": "last_order_at", "older_than": {"days": 90}},
                {"event": "order.placed", "window": {"last": {"days": 30}}},
                {"time": "first_order_at", "between": ["2025-01-01", "2025-02-01"]},
            ]
        }
    )
    view = ProfileView(
        {"last_order_at": "2025-06-01T00:00:00+09:00", "first_order_at": "2025-01-05"},
        (
            EventView("order.placed", NOW - timedelta(days=3)),
            EventView("order.placed", NOW - timedelta(days=40)),
            EventView("checkout.started", NOW),
        ),
    )
    assert edges(Compiler().compile(definition), view) == {
        datetime.fromisoformat("2025-06-01T00:00:00+09:00") + timedelta(days=90),
        NOW + timedelta(days=27),
        NOW - timedelta(days=10),
    }
    assert Compiler().compile(parse_definition({"trait": "x", "op": "exists"})).sources == set()


def test_identical_leaves_of_different_definitions_share_one_closure() -> None:
    compiler = Compiler()
    vip = {"trait": "tags", "op": "contains", "value": "vip"}
    rank = {"rfm": "rank", "op": "=", "value": "A"}
    compiler.compile(parse_definition({"all": [vip, rank]}))
    compiler.compile(parse_definition({"any": [vip, {"trait": "x", "op": "exists"}]}))
    assert len(compiler._checks) == 3  # vip once, rfm_rank = A, x exists


def test_one_and_true_are_different_leaves() -> None:
    compiler = Compiler()
    number = compiler.compile(parse_definition({"trait": "x", "op": "=", "value": 1}))
    boolean = compiler.compile(parse_definition({"trait": "x", "op": "=", "value": True}))
    views = [ProfileView({"x": 1}), ProfileView({"x": True})]
    assert selected(number, views) == [True, False]
    assert selected(boolean, views) == [False, True]
