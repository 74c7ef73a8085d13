"""A definition about to be saved may only reference live segments, without cycles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crm_segment.domain.definition import Definition, parse_definition
from crm_segment.domain.errors import DefinitionError
from crm_segment.domain.graph import find_cycle, segment_references


def referenced_ids(raw: Any) -> set[str]:
    return {sid for _, sid in segment_references(parse_definition(raw))}


def check_references(definition: Definition, segment_id: str | None, active: Sequence[Any]) -> None:
    """Raise DefinitionError at the path of an unknown segment or one closing a cycle.

    ``active`` are the tenant's active segment rows; ``segment_id`` is the
    segment being saved (None for a preview).
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
    if segment_id is None or not refs:
        return
    edges = {row.segment_id: referenced_ids(row.definition) for row in active}
    edges[segment_id] = {sid for _, sid in refs}
    cycle = find_cycle(edges, segment_id)
    if cycle is not None:
        path = next(path for path, sid in refs if sid == cycle[1])
        raise DefinitionError([(path, "segment references form a cycle: " + " -> ".join(cycle))])


def readers_of(segment_id: str, active: Sequence[Any]) -> list[str]:
    """Active segments whose definitions reference ``segment_id``."""
    return sorted(
        row.segment_id
        for row in active
        if row.segment_id != segment_id and segment_id in referenced_ids(row.definition)
    )
