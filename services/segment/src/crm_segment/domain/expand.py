"""Shorthand conditions lowered to trait conditions, and where event filters look."""

from __future__ import annotations

from typing import Literal

from crm_common.events.customers import ConsentState
from crm_segment.domain.definition import (
    AnyOf,
    Condition,
    ConsentCondition,
    FStageCondition,
    RfmCondition,
    TraitCondition,
)
from crm_segment.domain.values import Memo

Shorthand = RfmCondition | FStageCondition | ConsentCondition
RFM_TRAITS = {
    "rank": "rfm_rank",
    "recency": "rfm_recency",
    "frequency": "rfm_frequency",
    "monetary": "rfm_monetary",
}
LINE_FIELDS = frozenset({"product_id", "category", "sku", "quantity"})
EVENT_ALIASES = {"amount": "total"}
FilterScope = Literal["line", "event"]


_EXPANSIONS = Memo()


def expand(condition: Shorthand) -> Condition:
    """The trait condition(s) a shorthand stands for (memoised: evaluation is hot)."""
    key = _EXPANSIONS.key(condition)
    found: Condition | None = _EXPANSIONS.found.get(key)
    if found is None:
        found = _EXPANSIONS.remember(key, _expand(condition))
    return found


def _expand(condition: Shorthand) -> Condition:
    if isinstance(condition, RfmCondition):
        trait = RFM_TRAITS[condition.rfm]
        return TraitCondition(trait=trait, op=condition.op, value=condition.value)
    if isinstance(condition, FStageCondition):
        return TraitCondition(trait="f_stage", op="in", value=condition.f_stage)
    return _expand_consent(condition)


def _expand_consent(condition: ConsentCondition) -> Condition:
    states = condition.state
    trait = f"consent_{condition.consent.value}"
    stated = TraitCondition(trait=trait, op="in", value=tuple(s.value for s in states))
    if ConsentState.NEVER not in states:
        return stated
    # No consent record at all is the same as never having been asked.
    return AnyOf(any=(stated, TraitCondition(trait=trait, op="not_exists")))


def filter_target(field: str) -> tuple[FilterScope, str]:
    """Whether an event filter tests each order line or the event, and at which path."""
    head, _, rest = field.partition(".")
    if head == "line" and rest:
        return "line", rest
    if head == "event" and rest:
        return "event", rest
    if field in LINE_FIELDS:
        return "line", field
    return "event", EVENT_ALIASES.get(field, field)
