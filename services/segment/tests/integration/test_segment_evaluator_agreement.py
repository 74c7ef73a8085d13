"""The SQL evaluator and the in-memory evaluator select exactly the same profiles.

Random definitions over every operator, random messy profiles with events and
memberships, loaded into the read model in PostgreSQL, compared at a fixed now.
Each example runs in its own transaction under a fresh tenant and is rolled back.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from segment_cases import CASES
from segment_strategies import NOW, boundary_cases, definitions_json, profiles
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_segment.domain.definition import parse_definition
from crm_segment.domain.evaluate import ProfileView, evaluate
from crm_segment.domain.templates import TEMPLATES
from crm_segment.readmodel import events, memberships
from crm_segment.readmodel import profiles as profiles_table
from crm_segment.sqlcompile import compile_definition

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]


def _rows(tenant: str, views: list[ProfileView]) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {"profiles": [], "events": [], "memberships": []}
    for index, view in enumerate(views):
        pid = f"p{index}"
        rows["profiles"].append(
            {
                "tenant_id": tenant,
                "profile_id": pid,
                "traits": dict(view.traits),
                "version": 1,
                "updated_at": NOW,
            }
        )
        for number, event in enumerate(view.events):
            rows["events"].append(
                {
                    "tenant_id": tenant,
                    "profile_id": pid,
                    "event_id": f"{pid}-e{number}",
                    "type": event.type,
                    "occurred_at": event.occurred_at,
                    "properties": dict(event.properties),
                }
            )
        rows["memberships"].extend(_memberships(tenant, pid, view))
    return rows


def _memberships(tenant: str, pid: str, view: ProfileView) -> list[dict[str, Any]]:
    entered = NOW - timedelta(days=3)
    # Every profile also left seg_b once: closed rows must not count as membership.
    closed = {
        "tenant_id": tenant,
        "segment_id": "seg_b",
        "profile_id": pid,
        "entered_at": entered - timedelta(days=10),
        "exited_at": entered,
    }
    open_rows = [
        {
            "tenant_id": tenant,
            "segment_id": segment,
            "profile_id": pid,
            "entered_at": entered,
            "exited_at": None,
        }
        for segment in sorted(view.segments)
    ]
    return [closed, *open_rows]


async def _load(conn: AsyncConnection, tenant: str, views: list[ProfileView]) -> None:
    rows = _rows(tenant, views)
    for table in (profiles_table, events, memberships):
        if rows[table.name]:
            await conn.execute(insert(table), rows[table.name])


async def _sql_selects(engine: AsyncEngine, definition: Any, views: list[ProfileView]) -> set[str]:
    tenant = uuid.uuid4().hex
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            await _load(conn, tenant, views)
            result = await conn.execute(compile_definition(definition, tenant, NOW))
            return {row[0] for row in result}
        finally:
            await transaction.rollback()


def _memory_selects(definition: Any, views: list[ProfileView]) -> set[str]:
    return {f"p{i}" for i, view in enumerate(views) if evaluate(definition, view, NOW)}


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(definition=definitions_json, views=st.lists(profiles, min_size=1, max_size=6))
async def test_sql_and_memory_evaluators_select_the_same_profiles(
    read_model_engine: AsyncEngine, definition: dict[str, Any], views: list[ProfileView]
) -> None:
    parsed = parse_definition(definition)
    assert await _sql_selects(read_model_engine, parsed, views) == _memory_selects(parsed, views)


@pytest.mark.parametrize(
    ("definition", "view", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_both_evaluators_give_the_hand_written_answers(
    read_model_engine: AsyncEngine, definition: dict[str, Any], view: ProfileView, expected: bool
) -> None:
    parsed = parse_definition(definition)
    selected = {"p0"} if expected else set()
    assert _memory_selects(parsed, [view]) == selected
    assert await _sql_selects(read_model_engine, parsed, [view]) == selected


@settings(max_examples=60, deadline=None, database=None)
@given(case=boundary_cases())
async def test_evaluators_agree_exactly_at_time_boundaries(
    read_model_engine: AsyncEngine, case: tuple[dict[str, Any], list[ProfileView]]
) -> None:
    definition, views = case
    parsed = parse_definition(definition)
    assert await _sql_selects(read_model_engine, parsed, views) == _memory_selects(parsed, views)


@settings(max_examples=30, deadline=None, database=None)
@given(views=st.lists(profiles, min_size=1, max_size=6))
async def test_templates_select_the_same_profiles_in_both_evaluators(
    read_model_engine: AsyncEngine, views: list[ProfileView]
) -> None:
    for template in TEMPLATES[:5]:
        expected = _memory_selects(template.definition, views)
        assert await _sql_selects(read_model_engine, template.definition, views) == expected
