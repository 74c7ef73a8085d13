"""Built-in templates evaluate as a merchant expects on sample profiles."""

from __future__ import annotations

from typing import Any

import pytest
from segment_cases import NOW, ago, iso

from crm_segment.domain.evaluate import ProfileView, evaluate
from crm_segment.domain.templates import TEMPLATES, UnknownTemplateError, get_template


def matches(key: str, traits: dict[str, Any]) -> bool:
    return evaluate(get_template(key).definition, ProfileView(traits), NOW)


def test_there_are_five_named_templates_and_twenty_five_rfm_cells() -> None:
    keys = [template.key for template in TEMPLATES]
    assert keys[:5] == [
        "loyal_customers",
        "dormant_customers",
        "f2_candidates",
        "at_risk_customers",
        "new_customers",
    ]
    assert keys[5:] == [f"rfm_r{r}_f{f}" for r in range(1, 6) for f in range(1, 6)]
    assert len(set(keys)) == 30
    assert all(t.name_ja and t.name_en and t.description_ja and t.description_en for t in TEMPLATES)
    assert get_template("dormant_customers").name_ja == "休眠顧客"


def test_unknown_template_key() -> None:
    with pytest.raises(UnknownTemplateError):
        get_template("nope")


@pytest.mark.parametrize(
    ("rank", "expected"), [("A", True), ("B", True), ("C", False), (None, False)]
)
def test_loyal_customers(rank: str | None, expected: bool) -> None:
    assert matches("loyal_customers", {"rfm_rank": rank}) is expected


@pytest.mark.parametrize(
    ("spent", "days_ago", "expected"),
    [
        ("6000", 91, True),
        ("6000", 90, True),
        ("6000", 89, False),
        ("4999", 200, False),
        (5000, 120, True),
    ],
)
def test_dormant_customers(spent: Any, days_ago: int, expected: bool) -> None:
    traits = {"total_spent": spent, "last_order_at": iso(ago(days_ago))}
    assert matches("dormant_customers", traits) is expected


@pytest.mark.parametrize(
    ("orders", "days_ago", "expected"),
    [(1, 10, True), (1, 29, True), (1, 30, False), (2, 10, False), (0, 10, False)],
)
def test_f2_candidates(orders: int, days_ago: int, expected: bool) -> None:
    traits = {"orders_count": orders, "last_order_at": iso(ago(days_ago))}
    assert matches("f2_candidates", traits) is expected


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        ("A", "B", True),
        ("B", "E", True),
        ("D", "E", True),
        ("B", "B", False),
        ("C", "A", False),
        ("E", "E", False),
        (None, "E", False),
    ],
)
def test_at_risk_customers(previous: str | None, current: str, expected: bool) -> None:
    traits = {"rfm_rank_previous": previous, "rfm_rank": current}
    assert matches("at_risk_customers", traits) is expected


@pytest.mark.parametrize(
    ("days_ago", "expected"), [(0, True), (29, True), (30, False), (400, False)]
)
def test_new_customers(days_ago: int, expected: bool) -> None:
    assert matches("new_customers", {"first_order_at": iso(ago(days_ago))}) is expected


def test_each_profile_is_in_exactly_one_rfm_cell() -> None:
    cells = [t for t in TEMPLATES if t.key.startswith("rfm_r")]
    profile = ProfileView({"rfm_recency": 4, "rfm_frequency": "2"})
    assert [t.key for t in cells if evaluate(t.definition, profile, NOW)] == ["rfm_r4_f2"]
