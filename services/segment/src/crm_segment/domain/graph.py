"""Segments that reference segments: where, in which order, and no cycles."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set
from typing import Any

from crm_segment.domain.definition import (
    AllOf,
    AnyOf,
    Condition,
    Definition,
    NotOf,
    SegmentCondition,
    condition_tag,
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


def stored_references(data: Any) -> set[str]:
    """Segment ids a stored definition (its canonical JSON) references.

    Walks the JSON without validating it: stored definitions were valid when
    saved, and one saved before the size limits may be far too big to parse
    for every save of another segment.
    """
    found: set[str] = set()
    stack = [data]
    while stack:
        node = stack.pop()
        tag = condition_tag(node)
        if tag in ("all", "any") and isinstance(node[tag], list):
            stack.extend(node[tag])
        elif tag == "not":
            stack.append(node["not"])
        elif tag == "segment" and isinstance(node["segment"], str):
            found.add(node["segment"])
    return found


def chain_length(edges: Mapping[str, Set[str]], start: str) -> int:
    """Segments in the longest reference chain through ``start`` (1: it references none
    and none references it). ``edges`` (node -> referenced nodes) hold no cycle."""
    readers: dict[str, set[str]] = {}
    for node, targets in edges.items():
        for target in targets:
            readers.setdefault(target, set()).add(node)
    return longest_chain(edges, start) + longest_chain(readers, start) - 1


def longest_chain(edges: Mapping[str, Set[str]], start: str) -> int:
    """Segments in the longest chain of ``edges`` starting at ``start`` (itself included)."""
    # Iterative post-order: no recursion limit to hit. A node met again while
    # it is being expanded (a cycle, which saving never allows) counts nothing.
    length: dict[str, int] = {}
    open_nodes: set[str] = set()
    stack: list[tuple[str, bool]] = [(start, False)]
    while stack:
        node, expanded = stack.pop()
        targets = edges.get(node, set())
        if expanded:
            open_nodes.discard(node)
            length[node] = 1 + max((length.get(t, 0) for t in targets), default=0)
        elif node not in length and node not in open_nodes:
            open_nodes.add(node)
            stack.append((node, True))
            stack.extend((t, False) for t in targets if t not in length)
    return length[start]


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
