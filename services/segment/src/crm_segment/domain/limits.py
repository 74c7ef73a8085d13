"""What one definition may cost, checked on its raw JSON before anything else.

Each limit bounds something that multiplies the work of every later stage:
validation, the SQL a fill or preview compiles (its size, its bind parameters,
asyncpg allows 32,767), and the in-memory evaluation the consumers run for
every changed profile against every live segment.

=========================  =======  ===================================================
limit                      default  what it counts
=========================  =======  ===================================================
``max_definition_leaves``  100      leaf conditions plus event ``where`` filters
``max_definition_depth``   10       nesting levels of all / any / not (a leaf is one)
``max_list_values``        1000     values in one list (``in``/``not_in``, f_stage, state)
``max_definition_values``  5000     values in all those lists together
``max_event_conditions``   20       event conditions (each a correlated subquery in SQL
                                    and a pass over the profile's events in memory)
``max_duration_days``      3660     one duration: older_than, within, window.last
``max_reference_depth``    5        segments in the longest chain of segment references
``max_live_segments``      500      active dynamic segments of one tenant (a new profile
                                    is evaluated against every one of them)
=========================  =======  ===================================================

The walk is iterative and lazy: it stops at the first limit exceeded, so its
own cost is bounded by the limits, whatever the size of the input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from crm_segment.domain.errors import DefinitionError

_LIST_NODES = ("all", "any")
_LIST_FIELDS = ("value", "f_stage", "state")
_DURATION_DAYS = {"weeks": 7.0, "days": 1.0, "hours": 1 / 24, "minutes": 1 / 1440}


@dataclass(frozen=True, slots=True)
class DefinitionLimits:
    """The limits above; the service builds them from its settings (same names)."""

    max_definition_leaves: int = 100
    max_definition_depth: int = 10
    max_list_values: int = 1000
    max_definition_values: int = 5000
    max_event_conditions: int = 20
    max_duration_days: int = 3660
    max_reference_depth: int = 5
    max_live_segments: int = 500


DEFAULT_LIMITS = DefinitionLimits()


@dataclass(frozen=True, slots=True)
class LimitProblem:
    """Where a limit was exceeded: the definition path, the limit's name and value."""

    path: str
    limit: str
    maximum: int
    message: str

    def as_detail(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "message": self.message,
            "limit": self.limit,
            "max": self.maximum,
        }


class LimitExceededError(DefinitionError):
    """A definition (or the tenant's set of segments) would exceed a cost limit."""

    def __init__(self, problem: LimitProblem) -> None:
        super().__init__([(problem.path, problem.message)])
        self.problem = problem


def check_limits(
    data: Any, limits: DefinitionLimits, tag_of: Callable[[Any], str | None]
) -> LimitProblem | None:
    """The first limit ``data`` exceeds, in document order, or None.

    ``tag_of`` names a node's condition kind (``"all"``, ``"trait"`` ...);
    anything malformed is left for validation to report.
    """
    tally = _Tally(limits)
    stack: list[tuple[Iterator[tuple[str, Any]], int]] = [(iter([("", data)]), 1)]
    while stack:
        children, depth = stack[-1]
        step = next(children, None)
        if step is None:
            stack.pop()
            continue
        path, node = step
        if depth > limits.max_definition_depth:
            return tally.problem(
                path,
                "max_definition_depth",
                f"conditions nest deeper than {limits.max_definition_depth} levels",
            )
        inner = _children(node, tag_of(node), path)
        if inner is not None:
            stack.append((inner, depth + 1))
            continue
        found = tally.leaf(node, tag_of(node), path)
        if found is not None:
            return found
    return None


def _children(node: Any, tag: str | None, path: str) -> Iterator[tuple[str, Any]] | None:
    prefix = f"{path}." if path else ""
    if tag in _LIST_NODES and isinstance(node[tag], list):
        return ((f"{prefix}{tag}[{i}]", child) for i, child in enumerate(node[tag]))
    if tag == "not":
        return iter([(f"{prefix}not", node["not"])])
    return None


class _Tally:
    """Running counts over the leaves seen so far."""

    def __init__(self, limits: DefinitionLimits) -> None:
        self.limits = limits
        self.leaves = 0
        self.values = 0
        self.events = 0

    def problem(self, path: str, limit: str, message: str) -> LimitProblem:
        maximum = int(getattr(self.limits, limit))
        return LimitProblem(path, limit, maximum, f"{message} (limit {limit} = {maximum})")

    def leaf(self, node: Any, tag: str | None, path: str) -> LimitProblem | None:
        prefix = f"{path}." if path else ""
        self.leaves += 1
        if self.leaves > self.limits.max_definition_leaves:
            return self._too_many_leaves(path)
        if not isinstance(node, dict):
            return None
        if tag == "event":
            return self._event(node, prefix, path)
        if tag == "time":
            return self._durations(node, prefix, ("older_than", "within"))
        return self._lists(node, prefix)

    def _too_many_leaves(self, path: str) -> LimitProblem:
        return self.problem(
            path,
            "max_definition_leaves",
            f"more than {self.limits.max_definition_leaves} conditions,"
            " counting each leaf condition and each event filter",
        )

    def _event(self, node: dict[str, Any], prefix: str, path: str) -> LimitProblem | None:
        self.events += 1
        if self.events > self.limits.max_event_conditions:
            return self.problem(
                path,
                "max_event_conditions",
                f"more than {self.limits.max_event_conditions} event conditions",
            )
        where = node.get("where")
        if isinstance(where, list):
            room = self.limits.max_definition_leaves - self.leaves
            if len(where) > room:
                return self._too_many_leaves(f"{prefix}where[{room}]")
            self.leaves += len(where)
            for index, item in enumerate(where):
                found = self._lists(item, f"{prefix}where[{index}].")
                if found is not None:
                    return found
        window = node.get("window")
        if isinstance(window, dict):
            return self._durations(window, f"{prefix}window.", ("last",))
        return None

    def _lists(self, node: Any, prefix: str) -> LimitProblem | None:
        if not isinstance(node, dict):
            return None
        for key in _LIST_FIELDS:
            items = node.get(key)
            if not isinstance(items, list):
                continue
            if len(items) > self.limits.max_list_values:
                return self.problem(
                    f"{prefix}{key}",
                    "max_list_values",
                    f"more than {self.limits.max_list_values} values in one list",
                )
            self.values += len(items)
            if self.values > self.limits.max_definition_values:
                return self.problem(
                    f"{prefix}{key}",
                    "max_definition_values",
                    f"more than {self.limits.max_definition_values} list values in all",
                )
        return None

    def _durations(
        self, node: dict[str, Any], prefix: str, keys: tuple[str, ...]
    ) -> LimitProblem | None:
        for key in keys:
            days = _days(node.get(key))
            if days is not None and days > self.limits.max_duration_days:
                return self.problem(
                    f"{prefix}{key}",
                    "max_duration_days",
                    f"a duration longer than {self.limits.max_duration_days} days",
                )
        return None


def _days(duration: Any) -> float | None:
    """A raw duration's length in days, or None when it is not one (validation says why)."""
    if not isinstance(duration, dict):
        return None
    total = 0.0
    for unit, days in _DURATION_DAYS.items():
        amount = duration.get(unit, 0)
        if isinstance(amount, bool) or not isinstance(amount, int):
            return None
        total += float(amount) * days if abs(amount) < 10**15 else float("inf")
    return total
