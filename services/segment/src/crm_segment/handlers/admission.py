"""What a definition must pass before it is saved or previewed: the limits, its
references, and room for one more live segment. The CPU-bound checks run in a
worker thread, so a large definition never holds the event loop (/healthz, the
consumers' heartbeats)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from crm_segment.domain.definition import Definition, parse_definition
from crm_segment.domain.limits import DefinitionLimits, LimitExceededError, LimitProblem
from crm_segment.handlers.references import check_references


async def parse(raw: Any, limits: DefinitionLimits) -> Definition:
    """Validate a definition within the limits, in a worker thread (it is CPU-bound)."""
    return await asyncio.to_thread(parse_definition, raw, limits)


async def check_saving(
    definition: Definition,
    segment_id: str | None,
    active: Sequence[Any],
    limits: DefinitionLimits,
) -> None:
    """References (known, acyclic, chains within the limit), in a worker thread."""
    await asyncio.to_thread(check_references, definition, segment_id, active, limits)


def check_room(active: Sequence[Any], limits: DefinitionLimits, path: str) -> None:
    """Refuse one more live segment when the tenant has as many as the limit allows."""
    live = sum(1 for row in active if row.kind == "dynamic")
    if live < limits.max_live_segments:
        return
    maximum = limits.max_live_segments
    message = (
        f"the tenant has {live} active dynamic segments, as many as allowed"
        f" (limit max_live_segments = {maximum}); archive one first"
    )
    raise LimitExceededError(LimitProblem(path, "max_live_segments", maximum, message))
