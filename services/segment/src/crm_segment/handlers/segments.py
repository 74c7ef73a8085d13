"""Segment commands: create, change, archive, install a template, freeze a snapshot.

Each runs in the caller's transaction with the tenant's lock held exclusively (for
an instant: no fill runs inside it), so every evaluator's catalog changes with the
segment. Filling members is a job queued in the same transaction
(:mod:`crm_segment.handlers.jobs`); the command returns it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.context import SegmentContext
from crm_segment.domain.definition import DefinitionError
from crm_segment.domain.limits import DEFAULT_LIMITS, DefinitionLimits
from crm_segment.domain.templates import get_template
from crm_segment.handlers.admission import check_room, check_saving, parse
from crm_segment.handlers.errors import (
    InvalidSegmentError,
    SegmentConflictError,
    SegmentNotFoundError,
)
from crm_segment.handlers.jobs import enqueue
from crm_segment.handlers.references import readers_of
from crm_segment.repository import catalog as catalog_repo
from crm_segment.repository import jobs as job_repo
from crm_segment.repository import locks
from crm_segment.repository import memberships as membership_repo
from crm_segment.repository import segments as repo
from crm_segment.repository.jobs import JobRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewSegment:
    name: str
    definition: Any
    description: str = ""
    kind: str = "dynamic"
    snapshot_at: datetime | None = None
    template_key: str | None = None


@dataclass(frozen=True)
class SegmentChange:
    name: str | None = None
    description: str | None = None
    definition: Any | None = None
    status: str | None = None


def new_segment_id() -> str:
    return f"seg_{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True)
class Settings:
    """What commands take from the service's settings."""

    limits: DefinitionLimits = DEFAULT_LIMITS
    fill_timeout_seconds: float = 120.0


async def create(
    session: AsyncSession,
    tenant_id: str,
    new: NewSegment,
    now: datetime,
    settings: Settings = Settings(),
) -> tuple[Any, JobRow | None]:
    """The new segment and the job filling it (None: a snapshot scheduled for later)."""
    limits = settings.limits
    definition = await parse(new.definition, limits)
    await locks.own_tenant(session, tenant_id)
    segment_id = new_segment_id()
    active = await repo.active(session, tenant_id)
    if new.kind == "dynamic":
        check_room(active, limits, "kind")
    await check_saving(definition, segment_id, active, limits)
    snapshot_at = _snapshot_moment(new, now)
    await repo.add(
        session,
        {
            "segment_id": segment_id,
            "tenant_id": tenant_id,
            "name": new.name,
            "description": new.description,
            "definition": definition.to_json_obj(),
            "kind": new.kind,
            "status": "active",
            "template_key": new.template_key,
            "snapshot_at": snapshot_at,
            "created_at": now,
            "updated_at": now,
        },
    )
    job = None
    if new.kind == "dynamic":
        job = await _queue(session, tenant_id, segment_id, "fill", "created", 1, now, settings)
    elif snapshot_at is not None and snapshot_at <= now:
        job = await _queue(session, tenant_id, segment_id, "snapshot", "snapshot", 1, now, settings)
    return await _row(session, tenant_id, segment_id), job


async def _queue(
    session: AsyncSession,
    tenant_id: str,
    segment_id: str,
    kind: str,
    reason: str,
    version: int,
    now: datetime,
    settings: Settings,
) -> JobRow:
    await catalog_repo.bump(session, tenant_id)  # evaluators: the segment is filling
    timeout = settings.fill_timeout_seconds
    return await enqueue(session, tenant_id, segment_id, kind, reason, version, now, timeout)


def _snapshot_moment(new: NewSegment, now: datetime) -> datetime | None:
    if new.kind == "dynamic":
        if new.snapshot_at is not None:
            raise InvalidSegmentError("snapshot_at", "only snapshot segments have a snapshot_at")
        return None
    if new.snapshot_at is None:
        return now
    if new.snapshot_at < now:
        raise InvalidSegmentError("snapshot_at", "a snapshot cannot be taken in the past")
    return new.snapshot_at


async def _row(session: AsyncSession, tenant_id: str, segment_id: str, lock: bool = False) -> Any:
    row = await repo.get(session, tenant_id, segment_id, lock=lock)
    if row is None:
        raise SegmentNotFoundError(segment_id)
    return row


async def change(
    session: AsyncSession,
    tenant_id: str,
    segment_id: str,
    change: SegmentChange,
    now: datetime,
    settings: Settings = Settings(),
) -> tuple[Any, JobRow | None]:
    """The changed segment and the job refilling it (None: nothing to refill)."""
    await locks.own_tenant(session, tenant_id)
    row = await _row(session, tenant_id, segment_id, lock=True)
    values: dict[str, Any] = {"updated_at": now}
    if change.name is not None:
        values["name"] = change.name
    if change.description is not None:
        values["description"] = change.description
    if change.status == "archived" and row.status == "active":
        await _archive(session, tenant_id, row, now)
        values["status"] = "archived"
        await repo.change(session, segment_id, values)
        return await _row(session, tenant_id, segment_id), None
    relive = await _redefine(session, tenant_id, row, change, values, settings.limits)
    await repo.change(session, segment_id, values)
    if not relive:
        return await _row(session, tenant_id, segment_id), None
    version = values.get("definition_version", row.definition_version)
    job = await _queue(session, tenant_id, segment_id, "fill", "edited", version, now, settings)
    return await _row(session, tenant_id, segment_id), job


async def _redefine(
    session: AsyncSession,
    tenant_id: str,
    row: Any,
    change: SegmentChange,
    values: dict[str, Any],
    limits: DefinitionLimits,
) -> bool:
    """Validate a new definition and/or reactivation into ``values``; True if a refill is due.

    Either checks the definition against today's limits: a segment saved before
    them cannot come back to life (or be edited) over them.
    """
    reactivate = change.status == "active" and row.status == "archived"
    if change.definition is None and not reactivate:
        return False
    if row.kind == "snapshot" and (row.filled_at is not None or reactivate):
        raise SegmentConflictError("snapshot_frozen", "a 固定 (snapshot) segment never changes")
    if row.status == "archived" and not reactivate:
        raise SegmentConflictError("segment_archived", "reactivate the segment to change it")
    raw = change.definition if change.definition is not None else row.definition
    definition = await parse(raw, limits)
    active = [r for r in await repo.active(session, tenant_id) if r.segment_id != row.segment_id]
    if reactivate and row.kind == "dynamic":
        check_room(active, limits, "status")
    await check_saving(definition, row.segment_id, active, limits)
    if change.definition is not None:
        values["definition"] = definition.to_json_obj()
        values["definition_version"] = row.definition_version + 1
    if reactivate:
        values["status"] = "active"
    return bool(row.kind == "dynamic")


async def _archive(session: AsyncSession, tenant_id: str, row: Any, now: datetime) -> None:
    active = await repo.active(session, tenant_id)
    readers = await asyncio.to_thread(readers_of, row.segment_id, active)
    if readers:
        raise SegmentConflictError(
            "segment_in_use",
            "active segments reference this segment",
            [{"path": "status", "message": f"referenced by {sid}"} for sid in readers],
        )
    # Archiving stops a segment; it is not a reason to tell anyone they left it.
    await job_repo.cancel_unfinished(session, tenant_id, row.segment_id, now)
    await membership_repo.close_segment(session, tenant_id, row.segment_id, now)
    await catalog_repo.bump(session, tenant_id)


async def install_template(
    session: AsyncSession,
    tenant_id: str,
    key: str,
    now: datetime,
    settings: Settings = Settings(),
) -> tuple[Any, JobRow | None]:
    template = get_template(key)
    await locks.own_tenant(session, tenant_id)  # re-entrant: create takes it again
    existing = await repo.with_template(session, tenant_id, key)
    if existing is not None:
        raise SegmentConflictError(
            "already_installed",
            f"template {key!r} is installed as {existing.segment_id}",
            [{"path": "key", "message": existing.segment_id}],
        )
    new = NewSegment(
        name=template.name_ja,
        description=template.description_ja,
        definition=template.definition.to_json_obj(),
        template_key=key,
    )
    return await create(session, tenant_id, new, now, settings)


async def queue_scheduled_snapshot(
    ctx: SegmentContext, session: AsyncSession, tenant_id: str, segment_id: str, now: datetime
) -> None:
    """Queue the freeze of a scheduled snapshot whose moment has come (once, whichever
    replica is first; the job sets ``filled_at``).

    A definition over the limits (saved before them) is not filled: it stays due,
    the API shows it suspended, and editing it is refused until it fits.
    """
    await locks.own_tenant(session, tenant_id)
    row = await _row(session, tenant_id, segment_id, lock=True)
    if row.filled_at is not None or row.status != "active":
        return
    if await job_repo.unfinished_for(session, tenant_id, segment_id):
        return
    try:
        await parse(row.definition, ctx.limits)
    except DefinitionError as exc:
        log.warning(
            "scheduled snapshot not filled: its definition is refused",
            extra={"tenant_id": tenant_id, "segment_id": segment_id, "error": str(exc)},
        )
        return
    settings = Settings(ctx.limits, ctx.settings.service.fill_timeout_seconds)
    await _queue(session, tenant_id, segment_id, "snapshot", "snapshot", 1, now, settings)
