"""A definition about to be saved may only reference live segments, without cycles,
in chains no longer than the limit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crm_segment.domain.definition import Definition
from crm_segment.domain.errors import DefinitionError
from crm_segment.domain.graph import (
    chain_length,
    find_cycle,
    longest_chain,
    segment_references,
    stored_references,
)
from crm_segment.domain.limits import (
    DEFAULT_LIMITS,
    DefinitionLimits,
    LimitExceededError,
    LimitProblem,
)

_PREVIEW = ""  # the node of a definition not saved yet (segment ids are never empty)


def check_references(
    definition: Definition,
    segment_id: str | None,
    active: Sequence[Any],
    limits: DefinitionLimits = DEFAULT_LIMITS,
) -> None:
    """Raise DefinitionError at the path of an unknown segment, one closing a cycle, or
    one making a reference chain longer than ``limits.max_reference_depth``.

    ``active`` are the tenant's active segment rows; ``segment_id`` is the
    segment being saved (None for a preview). CPU-bound over every active
    definition: callers on an event loop run it in a worker thread.
    """
    refs = segment_references(definition)
    known = {row.segment_id for row in active}
    unknown = [
        (path, f"unknown or archived segment {sid!r}")
        for path, sid in refs
        if sid not in known and sid != segment_id
    ]
    if unknown:
        raise DefinitionError(unknown)
    if not refs:
        return
    node = _PREVIEW if segment_id is None else segment_id
    edges = {row.segment_id: stored_references(row.definition) for row in active}
    edges[node] = {sid for _, sid in refs}
    cycle = find_cycle(edges, node)
    if cycle is not None:
        path = next(path for path, sid in refs if sid == cycle[1])
        raise DefinitionError([(path, "segment references form a cycle: " + " -> ".join(cycle))])
    _check_depth(edges, node, refs, limits.max_reference_depth)


def _check_depth(
    edges: dict[str, set[str]], node: str, refs: list[tuple[str, str]], maximum: int
) -> None:
    length = chain_length(edges, node)
    if length <= maximum:
        return
    path, _ = max(refs, key=lambda ref: longest_chain(edges, ref[1]))
    message = (
        f"segment references chain {length} segments deep through this one"
        f" (limit max_reference_depth = {maximum})"
    )
    raise LimitExceededError(LimitProblem(path, "max_reference_depth", maximum, message))


def readers_of(segment_id: str, active: Sequence[Any]) -> list[str]:
    """Active segments whose definitions reference ``segment_id``."""
    return sorted(
        row.segment_id
        for row in active
        if row.segment_id != segment_id and segment_id in stored_references(row.definition)
    )
