"""Typed comparison of stored JSON values against condition operands.

Both evaluators (in memory and SQL) follow this table, so it is the one place
that says what a comparison means.

Kinds. A condition's operands have one kind, declared by ``"type"`` or inferred
from the values given:

============  ===============================================================
kind          what counts as a value of that kind (operand or stored value)
============  ===============================================================
``number``    a JSON number (not true/false) or a decimal string matching
              ``-?[0-9]{1,255}(\\.[0-9]{1,255})?`` ("5000", "12.50"); compared
              as Decimal (255 digits a side: PostgreSQL's largest regex bound,
              and far inside what its numeric type takes)
``datetime``  a string ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)`` naming a real
              instant (year 1000-9999); compared as an aware instant
``string``    a JSON string; compared by code point (SQL uses ``COLLATE "C"``)
``boolean``   JSON true / false; only ``=``, ``!=``, ``in``, ``not_in``
============  ===============================================================

Inference: all booleans -> boolean; all numbers or decimal strings -> number;
all timestamps -> datetime; otherwise all strings -> string. Mixing a JSON
number or boolean with text that is not of its kind is a definition error.

Missing values. A field that is absent, JSON null, or not of the condition's
kind makes every comparison false, ``!=`` and ``not_in`` included; only
``not_exists`` is true for it. ``not`` is plain negation of that two-valued
result, so ``not (x = 1)`` holds for a profile without ``x``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import SerializationInfo

Scalar = bool | int | float | str | Decimal
Comparable = Decimal | datetime | str | bool

NUMBER_BODY = r"-?[0-9]{1,255}(\.[0-9]{1,255})?"
TIMESTAMP_BODY = (
    r"[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])"
)
# In SQL the number pattern is split: PostgreSQL's regex engine runs {1,255} thirty
# times slower than +, so the shape is matched with + and each side's length checked.
NUMBER_SHAPE_SQL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
MAX_NUMBER_DIGITS = 255
TIMESTAMP_SQL_PATTERN = f"^{TIMESTAMP_BODY}$"
_NUMBER_RE = re.compile(NUMBER_BODY)
_TIMESTAMP_RE = re.compile(TIMESTAMP_BODY)
_DATE_RE = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}")
_INTEGER_LIKE = re.compile(r"-?[0-9]+")
MAX_PATH_SEGMENTS = 8
MAX_PATH_LENGTH = 200


class ValueKind(StrEnum):
    NUMBER = "number"
    DATETIME = "datetime"
    STRING = "string"
    BOOLEAN = "boolean"


ORDERED_KINDS = frozenset({ValueKind.NUMBER, ValueKind.DATETIME, ValueKind.STRING})

COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def as_number(raw: object) -> Decimal | None:
    """The number a stored value stands for, or None when it is not a number."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        # repr is the shortest text that round-trips: what a JSON encoder writes
        # and therefore what PostgreSQL parses into numeric.
        return Decimal(repr(raw)) if math.isfinite(raw) else None
    if isinstance(raw, Decimal):
        return raw if raw.is_finite() else None
    if isinstance(raw, str) and _NUMBER_RE.fullmatch(raw):
        return Decimal(raw)
    return None


def as_datetime(raw: object) -> datetime | None:
    """The instant an ISO timestamp string names, or None (see the module table)."""
    if not isinstance(raw, str) or not _TIMESTAMP_RE.fullmatch(raw):
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:  # e.g. 2024-02-30: the pattern does not know month lengths
        return None


def coerce(raw: object, kind: ValueKind) -> Comparable | None:
    """``raw`` as a value of ``kind``, or None when it is not one."""
    if kind is ValueKind.NUMBER:
        return as_number(raw)
    if kind is ValueKind.DATETIME:
        return as_datetime(raw)
    if kind is ValueKind.STRING:
        return raw if isinstance(raw, str) else None
    return raw if isinstance(raw, bool) else None


def infer_kind(values: Sequence[Scalar], declared: ValueKind | None) -> ValueKind:
    """The kind of a condition's operands; ValueError names the offending value."""
    if declared is not None:
        for value in values:
            if coerce(value, declared) is None:
                raise ValueError(f"{value!r} is not a {declared.value} value")
        return declared
    for kind in (ValueKind.BOOLEAN, ValueKind.NUMBER, ValueKind.DATETIME, ValueKind.STRING):
        if all(coerce(value, kind) is not None for value in values):
            return kind
    raise ValueError("values mix kinds: use numbers, timestamps, text or true/false alike")


def operand_values(values: Sequence[Scalar], kind: ValueKind) -> tuple[Comparable, ...]:
    """Operands converted to ``kind`` (already checked by :func:`infer_kind`)."""
    converted = tuple(coerce(value, kind) for value in values)
    return tuple(value for value in converted if value is not None)


def parse_instant(raw: object) -> datetime:
    """An absolute bound: an aware datetime, an ISO timestamp, or a date (midnight UTC)."""
    if isinstance(raw, datetime):
        if raw.tzinfo is None:
            raise ValueError("timestamp must carry a time zone")
        return raw.astimezone(UTC)
    if isinstance(raw, str) and _DATE_RE.fullmatch(raw):
        try:
            return datetime.fromisoformat(raw).replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"{raw!r} is not a real date") from None
    instant = as_datetime(raw)
    if instant is None:
        raise ValueError(f"{raw!r} is not a date or an ISO timestamp with a time zone")
    try:
        return instant.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-14:00 is in year 10000 in UTC
        raise ValueError(f"{raw!r} is outside the years 1000 to 9999 in UTC") from None


def check_path(path: str) -> str:
    """Validate a field path: dot-separated segments, none empty or integer-like.

    Integer-like segments are refused because PostgreSQL's ``#>`` would read
    them as array indexes while the in-memory evaluator only walks objects.
    """
    if not path or len(path) > MAX_PATH_LENGTH:
        raise ValueError(f"field path must have 1 to {MAX_PATH_LENGTH} characters")
    segments = path.split(".")
    if len(segments) > MAX_PATH_SEGMENTS:
        raise ValueError(f"field path may have at most {MAX_PATH_SEGMENTS} segments")
    for segment in segments:
        if not segment or segment != segment.strip() or _INTEGER_LIKE.fullmatch(segment):
            raise ValueError(f"invalid field path segment {segment!r} in {path!r}")
    if not storable(path):
        raise ValueError(f"field path {path!r} has a NUL character")
    return path


def storable(text: str) -> bool:
    """Whether PostgreSQL can store and compare this text (no NUL, valid UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a JSON escape such as \ud800
        return False
    return True


def resolve(document: Mapping[str, Any], path: str) -> Any:
    """The value at ``path``: a flat key ``"a.b"`` if it holds a value, else nested ``a`` -> ``b``.

    Returns None for a missing value and for JSON null alike.
    """
    flat = document.get(path)
    if flat is not None:
        return flat
    current: Any = document
    for segment in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(segment)
    return current


def match_value(op: str, kind: ValueKind, operands: Sequence[Comparable], raw: object) -> bool:
    """Whether a stored value satisfies ``op`` against the operands (see module table)."""
    if op == "exists":
        return raw is not None
    if op == "not_exists":
        return raw is None
    if op == "contains":
        return _contains(raw, operands[0])
    value = coerce(raw, kind)
    if value is None:
        return False
    if op == "in":
        return value in operands
    if op == "not_in":
        return value not in operands
    if op == "between":
        low: Any = operands[0]
        high: Any = operands[1]
        return bool(low <= value <= high)
    return COMPARATORS[op](value, operands[0])


def _contains(raw: object, needle: object) -> bool:
    # Lists hold the needle as an element (tags); text holds it as a substring.
    if isinstance(raw, list):
        return any(isinstance(item, str) and item == needle for item in raw)
    if isinstance(raw, str) and isinstance(needle, str):
        return needle in raw
    return False


def operand_input(value: object) -> Scalar | tuple[Scalar, ...] | None:
    """A condition's ``value`` as given: a JSON scalar, a list of them, or absent."""
    if value is None:
        return None
    if isinstance(value, bool | int | float | str | Decimal) and _is_scalar(value):
        return value
    if isinstance(value, list | tuple) and all(_is_scalar(item) for item in value):
        return tuple(value)
    raise ValueError("value must be a number, text (without NUL), true/false, or a list of those")


def operand_output(value: Scalar | tuple[Scalar, ...] | None, info: SerializationInfo) -> Any:
    """Serialise a ``value``; in JSON, Decimals travel as strings (never floats)."""
    if info.mode != "json":
        return value
    items = value if isinstance(value, tuple) else (value,)
    out = [format(item, "f") if isinstance(item, Decimal) else item for item in items]
    return out if isinstance(value, tuple) else out[0]


_INT64 = 2**63


def _is_scalar(value: object) -> bool:
    if isinstance(value, float | Decimal):
        return math.isfinite(value)
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, int) and not isinstance(value, bool):
        # The stored JSON (orjson, jsonb) holds 64-bit integers; larger ones travel
        # as decimal strings ("12345678901234567890"), which compare as numbers alike.
        return -_INT64 <= value < _INT64
    return isinstance(value, bool)


def typed_key(value: object) -> object:
    """A cache key that tells apart values Python calls equal (True, 1, 1.0, Decimal(1))."""
    if isinstance(value, tuple | list):
        return tuple(typed_key(item) for item in value)
    return (type(value), value)


class Memo:
    """A bounded memo of pure functions of frozen conditions (cleared when full)."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self.found: dict[object, Any] = {}

    def key(self, node: Any) -> object:
        return (type(node), tuple((name, typed_key(v)) for name, v in node.__dict__.items()))

    def remember(self, key: object, value: Any) -> Any:
        if len(self.found) >= self.limit:
            self.found.clear()
        self.found[key] = value
        return value


def as_list(value: object) -> object:
    """Accept a single item where a list is expected (``"F2"`` for ``["F2"]``)."""
    return [value] if isinstance(value, str) else value
