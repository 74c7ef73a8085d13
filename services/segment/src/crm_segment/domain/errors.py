"""DefinitionError and the translation of validation errors into definition paths."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_core import ErrorDetails

_LIST_NODES = frozenset({"all", "any"})
MAX_REPORTED = 20
"""At most this many problems are reported: a huge invalid input gets a short answer."""


class DefinitionError(ValueError):
    """A segment definition is not valid.

    ``errors`` lists ``(path, message)`` pairs; a path such as
    ``"all[2].any[0].value"`` names the offending node or field, and the empty
    path means the definition as a whole.
    """

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors: list[tuple[str, str]] = [
            (_printable(path), _printable(message)) for path, message in errors[:MAX_REPORTED]
        ]
        super().__init__(
            "; ".join(f"{path or '<root>'}: {message}" for path, message in self.errors)
        )


def _printable(text: str) -> str:
    # A JSON key may carry a lone surrogate, which no UTF-8 answer can hold.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def definition_path(loc: Sequence[int | str]) -> str:
    """A pydantic error location as a definition path.

    Each condition in a location is preceded by its union tag, which is
    dropped; list indexes of ``all``/``any`` and inner fields are kept.
    """
    parts: list[str] = []
    at_condition = True
    items = list(loc)
    while items:
        if at_condition:
            items.pop(0)  # the discriminator tag
            if not items:
                break
            key = str(items.pop(0))
            parts.append(key)
            at_condition = key == "not"
            if key in _LIST_NODES and items and isinstance(items[0], int):
                parts[-1] += f"[{items.pop(0)}]"
                at_condition = True
            continue
        item = items.pop(0)
        if isinstance(item, int) and parts:
            parts[-1] += f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "literal_error" and error["loc"] and error["loc"][-1] == "op":
        return f"unknown operator {error['input']!r}; {error['msg'][0].lower()}{error['msg'][1:]}"
    if kind == "too_short" and error["loc"] and error["loc"][-1] in _LIST_NODES:
        return f"{error['loc'][-1]} needs at least one condition"
    if kind == "value_error":
        return str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
    return error["msg"]


def _is_echo(error: ErrorDetails) -> bool:
    # A non-empty all/any whose items failed is also reported as too short;
    # the item errors already say what is wrong.
    return error["type"] == "too_short" and bool(error["input"])


def from_validation_error(exc: ValidationError) -> DefinitionError:
    """Translate pydantic's errors, one (path, message) per error."""
    errors = [e for e in exc.errors() if not _is_echo(e)][:MAX_REPORTED]
    return DefinitionError([(definition_path(e["loc"]), _message(e)) for e in errors])
