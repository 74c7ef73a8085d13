"""Built-in segment definitions a merchant can install with one click."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_segment.domain.definition import Definition, parse_definition
from crm_segment.domain.operands import RFM_RANKS, RFM_SCORES


@dataclass(frozen=True, slots=True)
class Template:
    """An installable definition with its names in both languages."""

    key: str
    name_ja: str
    name_en: str
    description_ja: str
    description_en: str
    definition: Definition


def _template(key: str, names: tuple[str, str], texts: tuple[str, str], body: Any) -> Template:
    return Template(key, names[0], names[1], texts[0], texts[1], parse_definition(body))


def _at_risk_body() -> dict[str, Any]:
    # The language compares a trait with constants, so "previous rank better
    # than current" is spelled out per previous rank.
    return {
        "any": [
            {
                "all": [
                    {"trait": "rfm_rank_previous", "op": "=", "value": previous},
                    {"rfm": "rank", "op": "in", "value": list(RFM_RANKS[index + 1 :])},
                ]
            }
            for index, previous in enumerate(RFM_RANKS[:-1])
        ]
    }


def _rfm_cell(recency: int, frequency: int) -> Template:
    return _template(
        f"rfm_r{recency}_f{frequency}",
        (f"RFM R{recency}×F{frequency}", f"RFM cell R{recency} × F{frequency}"),
        (
            f"最新購入スコア{recency}・購入回数スコア{frequency}の顧客",
            f"Customers with recency score {recency} and frequency score {frequency}",
        ),
        {
            "all": [
                {"rfm": "recency", "op": "=", "value": recency},
                {"rfm": "frequency", "op": "=", "value": frequency},
            ]
        },
    )


_NAMED: tuple[Template, ...] = (
    _template(
        "loyal_customers",
        ("優良顧客", "Loyal customers"),
        ("RFMランクがAまたはBの顧客", "Customers whose RFM rank is A or B"),
        {"rfm": "rank", "op": "in", "value": ["A", "B"]},
    ),
    _template(
        "dormant_customers",
        ("休眠顧客", "Dormant customers"),
        (
            "累計購入額5,000円以上で、最終購入から90日以上経過した顧客",
            "Spent 5,000 JPY or more in total and last ordered 90 days ago or earlier",
        ),
        {
            "all": [
                {"trait": "total_spent", "op": ">=", "value": 5000},
                {"time": "last_order_at", "older_than": {"days": 90}},
            ]
        },
    ),
    _template(
        "f2_candidates",
        ("F2転換候補", "F2 candidates"),
        (
            "購入1回、かつ直近30日以内に購入した顧客",
            "Exactly one order, placed within the last 30 days",
        ),
        {
            "all": [
                {"trait": "orders_count", "op": "=", "value": 1},
                {"time": "last_order_at", "within": {"days": 30}},
            ]
        },
    ),
    _template(
        "at_risk_customers",
        ("離反予備軍", "At-risk customers"),
        (
            "RFMランクが前回より下がった顧客",
            "Customers whose RFM rank fell below their previous rank",
        ),
        _at_risk_body(),
    ),
    _template(
        "new_customers",
        ("新規顧客", "New customers"),
        ("初回購入から30日以内の顧客", "First order placed within the last 30 days"),
        {"time": "first_order_at", "within": {"days": 30}},
    ),
)

TEMPLATES: tuple[Template, ...] = _NAMED + tuple(
    _rfm_cell(r, f) for r in RFM_SCORES for f in RFM_SCORES
)
"""Every built-in template: five named segments, then the 25 R × F grid cells."""

_BY_KEY = {template.key: template for template in TEMPLATES}


class UnknownTemplateError(KeyError):
    """No built-in template has this key."""


def get_template(key: str) -> Template:
    """The built-in template with ``key``; raises :class:`UnknownTemplateError`."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise UnknownTemplateError(key) from None
