"""Segments that reference segments: where, in which order, and no cycles."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set

from crm_segment.domain.definition import (
    AllOf,
    AnyOf,
    Condition,
    Definition,
    NotOf,
    SegmentCondition,
)
from crm_segment.domain.evaluate import root_of


def segment_references(definition: Definition | Condition) -> list[tuple[str, str]]:
    """``(path, segment id)`` of every segment condition, paths as in DefinitionError."""
    return list(_walk(root_of(definition), ""))


def _walk(condition: Condition, path: str) -> Iterator[tuple[str, str]]:
    prefix = f"{path}." if path else ""
    match condition:
        case AllOf() | AnyOf():
            tag = "all" if isinstance(condition, AllOf) else "any"
            children = condition.all if isinstance(condition, AllOf) else condition.any
            for index, child in enumerate(children):
                yield from _walk(child, f"{prefix}{tag}[{index}]")
        case NotOf():
            yield from _walk(condition.not_, f"{prefix}not")
        case SegmentCondition():
            yield f"{prefix}segment", condition.segment


def find_cycle(edges: Mapping[str, Set[str]], start: str) -> list[str] | None:
    """A reference path from ``start`` back to itself, e.g. ``[a, b, a]``, if any."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for target in sorted(edges.get(node, ())):
            if target == start:
                return [*trail, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*trail, target]))
    return None


def topological_order(edges: Mapping[str, Set[str]]) -> list[str]:
    """Every node after the nodes it references (edges: node -> referenced nodes).

    References to unknown nodes are ignored; raises ValueError on a cycle.
    """
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: placed

    def visit(node: str) -> None:
        mark = state.get(node)
        if mark == 2:
            return
        if mark == 1:
            raise ValueError(f"segment reference cycle through {node}")
        state[node] = 1
        for target in sorted(edges[node]):
            if target in edges:
                visit(target)
        state[node] = 2
        order.append(node)

    for node in sorted(edges):
        visit(node)
    return order
