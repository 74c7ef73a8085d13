"""Typed reads from parsed JSON that remember where they are.

Every accessor takes a key of the current object and either returns a typed value
(``None`` when the key is absent or null) or raises a
:class:`~crm_ingest.domain.errors.NormalizationError` naming the full path, e.g.
``line_items[0].price: not a decimal: 'abc'``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from crm_ingest.domain.errors import field_error

_GID = re.compile(r"^gid://[a-z]+/[A-Za-z]+/(\d+)(?:\?.*)?$")


def json_kind(value: object) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    return "array" if isinstance(value, list | tuple) else type(value).__name__


def parse_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a JSON string or number; None when it is not one.

    Floats go through ``repr`` so that 199.0 becomes Decimal("199.0"), not its
    binary expansion.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(value.strip() if isinstance(value, str) else repr(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def to_ident(value: object) -> str | None:
    """An id as text, or None when ``value`` is not usable as one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        match = _GID.match(value.strip())
        return match.group(1) if match else value.strip()
    return None


def parse_timestamp(value: str) -> datetime | None:
    """An ISO 8601 timestamp; None when unparseable. Naive results are returned naive."""
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Node:
    """A JSON object plus the path that led to it."""

    data: Mapping[str, Any]
    path: str = ""

    def where(self, key: str) -> str:
        """The full path of ``key`` in this object."""
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, problem: str) -> NoReturn:
        """Raise a NormalizationError about ``key``."""
        raise field_error(self.where(key), problem)

    def has(self, key: str) -> bool:
        """Whether the key is present at all (even as null): tells API shapes apart."""
        return key in self.data

    def text(self, key: str) -> str | None:
        """A string, trimmed; empty becomes None."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {json_kind(value)}")
        return value.strip() or None

    def required_text(self, key: str) -> str:
        """A non-empty string."""
        return self.text(key) or self.fail(key, "missing")

    def ident(self, key: str) -> str | None:
        """An id as text: 64-bit integers and strings; a GraphQL gid gives its number."""
        value = self.data.get(key)
        ident = to_ident(value)
        if ident is None and value not in (None, ""):
            self.fail(key, f"not an id: {value!r}")
        return ident

    def required_ident(self, key: str) -> str:
        """An id that must be present."""
        return self.ident(key) or self.fail(key, "missing")

    def decimal(self, key: str) -> Decimal | None:
        """A decimal from a money string (or a JSON number)."""
        value = self.data.get(key)
        if value is None:
            return None
        number = parse_decimal(value)
        if number is None:
            self.fail(key, f"not a decimal: {value!r}")
        return number

    def required_decimal(self, key: str) -> Decimal:
        """A decimal that must be present."""
        number = self.decimal(key)
        return number if number is not None else self.fail(key, "missing")

    def integer(self, key: str) -> int | None:
        """A JSON integer (booleans and fractions refused)."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"not an integer: {value!r}")
        return value

    def flag(self, key: str) -> bool | None:
        """A JSON boolean."""
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.fail(key, f"not a boolean: {value!r}")

    def timestamp(self, key: str) -> datetime | None:
        """An ISO 8601 timestamp with an offset, converted to UTC."""
        value = self.text(key)
        if value is None:
            return None
        moment = parse_timestamp(value)
        if moment is None:
            self.fail(key, f"not a timestamp: {value!r}")
        if moment.tzinfo is None:
            self.fail(key, f"timestamp without UTC offset: {value!r}")
        return moment.astimezone(UTC)

    def child(self, key: str) -> Node | None:
        """A nested object."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.fail(key, f"expected an object, got {json_kind(value)}")
        return Node(value, self.where(key))

    def children(self, key: str) -> list[Node]:
        """A list of objects; absent or null is an empty list."""
        return [self._object_at(key, index, item) for index, item in enumerate(self._array(key))]

    def idents(self, key: str) -> list[str]:
        """A list of ids (``orders_to_redact``)."""
        result = []
        for index, item in enumerate(self._array(key)):
            ident = to_ident(item)
            if ident is None:
                raise field_error(f"{self.where(key)}[{index}]", f"not an id: {item!r}")
            result.append(ident)
        return result

    def _array(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(key, f"expected an array, got {json_kind(value)}")
        return value

    def _object_at(self, key: str, index: int, item: object) -> Node:
        path = f"{self.where(key)}[{index}]"
        if not isinstance(item, Mapping):
            raise field_error(path, f"expected an object, got {json_kind(item)}")
        return Node(item, path)
