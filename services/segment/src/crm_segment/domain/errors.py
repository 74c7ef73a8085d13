"""DefinitionError and the translation of validation errors into definition paths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

_LIST_NODES = frozenset({"all", "any"})


class DefinitionError(ValueError):
    """A segment definition is not valid.

    ``errors`` lists ``(path, message)`` pairs; a path such as
    ``"all[2].any[0].value"`` names the offending node or field, and the empty
    path means the definition as a whole.
    """

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors: list[tuple[str, str]] = list(errors)
        super().__init__("; ".join(f"{path or '<root>'}: {message}" for path, message in errors))


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
    errors = [e for e in exc.errors() if not _is_echo(e)]
    return DefinitionError([(definition_path(e["loc"]), _message(e)) for e in errors])


def too_deep(node: Any, max_depth: int, tag_of: Any, path: str = "", depth: int = 1) -> str | None:
    """The path of the first condition nested deeper than ``max_depth``, if any.

    Checked on the raw JSON before validation so a hostile definition cannot
    make validation recurse without bound.
    """
    if depth > max_depth:
        return path
    tag = tag_of(node)
    prefix = f"{path}." if path else ""
    if tag == "not":
        return too_deep(node["not"], max_depth, tag_of, f"{prefix}not", depth + 1)
    if tag in _LIST_NODES and isinstance(node[tag], list):
        for index, child in enumerate(node[tag]):
            found = too_deep(child, max_depth, tag_of, f"{prefix}{tag}[{index}]", depth + 1)
            if found is not None:
                return found
    return None
