"""Which operands each operator takes, and their conversion to one kind."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from crm_segment.domain.values import (
    ORDERED_KINDS,
    Comparable,
    Scalar,
    ValueKind,
    infer_kind,
    operand_values,
)

ORDERED_OPS = frozenset({"<", "<=", ">", ">=", "between"})
NO_VALUE_OPS = frozenset({"exists", "not_exists"})
LIST_OPS = frozenset({"in", "not_in"})
RFM_RANKS = ("A", "B", "C", "D", "E")
RFM_SCORES = (1, 2, 3, 4, 5)

Operand = Scalar | tuple[Scalar, ...] | None


def _values(op: str, value: Operand) -> tuple[Scalar, ...]:
    """The operand list an operator expects, or ValueError saying what it needs."""
    if op in NO_VALUE_OPS:
        if value is not None:
            raise ValueError(f"operator {op} takes no value")
        return ()
    if op in LIST_OPS:  # how many at most: limits.max_list_values
        if not isinstance(value, tuple) or not value:
            raise ValueError(f"operator {op} needs a list of values")
        return value
    if op == "between":
        if not isinstance(value, tuple) or len(value) != 2:
            raise ValueError("operator between needs a list of two values [low, high]")
        return value
    if value is None or isinstance(value, tuple):
        raise ValueError(f"operator {op} needs a single value")
    return (value,)


def _kind(op: str, values: Sequence[Scalar], declared: ValueKind | None) -> ValueKind:
    if op != "contains":
        return infer_kind(values, declared)
    if declared not in (None, ValueKind.STRING) or not isinstance(values[0], str):
        raise ValueError("operator contains needs a text value")
    return ValueKind.STRING


def operands_of(
    op: str, value: Operand, declared: ValueKind | None
) -> tuple[ValueKind, tuple[Comparable, ...]]:
    """The operand kind and converted operands; ValueError when they do not fit ``op``."""
    values = _values(op, value)
    if not values:
        return declared or ValueKind.STRING, ()
    kind = _kind(op, values, declared)
    if op in ORDERED_OPS and kind not in ORDERED_KINDS:
        raise ValueError(f"operator {op} needs numbers, timestamps or text, not true/false")
    return kind, operand_values(values, kind)


def check_operands(op: str, value: Operand, declared: ValueKind | None) -> None:
    """Raise ValueError unless ``value`` is a valid operand for ``op``."""
    _, converted = operands_of(op, value, declared)
    if op == "between":
        low: Any = converted[0]
        high: Any = converted[1]
        if not low <= high:
            raise ValueError("between needs two ordered values: low <= high")


def check_rfm(part: str, op: str, value: Operand) -> None:
    """RFM shorthand operands: ranks A-E (equality only), scores the integers 1-5."""
    values = _values(op, value)
    if part == "rank":
        if op in ORDERED_OPS or op == "contains":
            raise ValueError(f"operator {op} does not apply to ranks; use =, !=, in, not_in")
        allowed: tuple[Scalar, ...] = RFM_RANKS
    else:
        if op == "contains":
            raise ValueError("operator contains does not apply to scores")
        allowed = RFM_SCORES
    for item in values:
        if isinstance(item, bool | Decimal | float) or item not in allowed:
            raise ValueError(f"{item!r} is not one of {', '.join(map(str, allowed))}")
    check_operands(op, value, None)
