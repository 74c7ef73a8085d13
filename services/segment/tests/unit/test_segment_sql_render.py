"""compile_definition renders for every template and random definition (no database)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from segment_strategies import NOW, definitions_json
from sqlalchemy.dialects import postgresql

from crm_segment.domain.definition import parse_definition
from crm_segment.domain.templates import TEMPLATES
from crm_segment.sqlcompile import compile_definition


def render(definition: Any) -> str:
    statement = compile_definition(definition, "shop-1", NOW)
    return str(statement.compile(dialect=postgresql.dialect()))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
def test_templates_compile_to_a_tenant_scoped_select(template: Any) -> None:
    sql = render(template.definition)
    assert sql.startswith("SELECT segment.profiles.profile_id \nFROM segment.profiles \nWHERE")
    assert "segment.profiles.tenant_id = %(tenant_id_1)s" in sql


def test_event_conditions_are_correlated_subqueries() -> None:
    sql = render(parse_definition({"event": "order.placed", "count": {"op": ">=", "value": 2}}))
    assert "(SELECT count(*) AS count_1 \nFROM segment.events AS events_1" in sql
    assert "events_1.profile_id = segment.profiles.profile_id" in sql
    exists_sql = render(parse_definition({"event": "order.placed"}))
    assert "EXISTS (SELECT 1" in exists_sql


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compile_definition(parse_definition({"segment": "s"}), "t", datetime(2025, 1, 1))


@settings(max_examples=100)
@given(definitions_json)
def test_every_valid_definition_compiles(source: dict[str, Any]) -> None:
    assert render(parse_definition(source)).count("segment.profiles.tenant_id =") == 1
