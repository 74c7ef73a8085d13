"""The console's audit log: who viewed a customer, exported members, downloaded a print
file or the call list, changed settings, keys or secrets.

Writing never blocks a page: :meth:`AuditLog.record` puts the entry on an in-memory
queue and returns; one background task writes what is queued in batches (one
INSERT per batch) and, when PostgreSQL is down, keeps the entries and retries with
backoff. Bounded: past ``capacity`` queued entries the newest are dropped and counted
(``crm_dashboard_audit_dropped_total``) instead of growing without end. On shutdown
the queue is written out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import Counter
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import Database
from crm_dashboard.tables import audit_log

log = logging.getLogger(__name__)
DROPPED = Counter("crm_dashboard_audit_dropped_total", "Audit entries dropped (queue full)")
WRITTEN = Counter("crm_dashboard_audit_written_total", "Audit entries written")

ACTIONS = (
    "customer.viewed",
    "segment.members_exported",
    "dm.downloaded",
    "calls.viewed",
    "settings.changed",
    "providers.changed",
    "rfm.changed",
    "api_key.created",
    "api_key.revoked",
    "webhook_secret.added",
    "webhook_secret.revoked",
    "shop_domain.added",
    "user.added",
    "user.role_changed",
    "audit.exported",
)


class Actor(Protocol):
    """Who acts (the signed-in :class:`~crm_dashboard.web.deps.Viewer`)."""

    @property
    def tenant_id(self) -> str: ...

    @property
    def subject(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def email(self) -> str: ...


@dataclass
class AuditLog:
    db: Database
    capacity: int = 10_000
    batch: int = 500
    _queue: asyncio.Queue[dict[str, Any]] = field(init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.capacity)

    def record(
        self, who: Actor, action: str, target: str = "", detail: dict[str, Any] | None = None
    ) -> None:
        """Queue one entry (never waits, never raises)."""
        entry = {
            "tenant_id": who.tenant_id,
            "at": datetime.now(UTC),
            "user_id": who.subject,
            "email": who.email,
            "role": who.role,
            "action": action,
            "target": target,
            "detail": detail or {},
        }
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            DROPPED.inc()
            log.error("audit queue full: entry dropped", extra={"action": action})

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        """Stop the writer and write what is still queued (one try)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        pending = self._drain([])
        if pending:
            with contextlib.suppress(Exception):
                await self._write(pending)

    async def flush(self) -> None:
        """Wait until everything queued so far is written (tests)."""
        await self._queue.join()

    def _drain(self, into: list[dict[str, Any]]) -> list[dict[str, Any]]:
        while len(into) < self.batch and not self._queue.empty():
            into.append(self._queue.get_nowait())
        return into

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            entries = self._drain([first])
            await self._write_until_done(entries)
            for _ in entries:
                self._queue.task_done()

    async def _write_until_done(self, entries: list[dict[str, Any]]) -> None:
        delay = 0.5
        while True:
            try:
                await self._write(entries)
                return
            except Exception as exc:  # PostgreSQL away: keep the entries, try again
                log.warning("audit write failed", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _write(self, entries: list[dict[str, Any]]) -> None:
        async with self.db.transaction() as session:
            await session.execute(audit_log.insert(), entries)
        WRITTEN.inc(len(entries))


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page asks for: one tenant, optionally one action, one user
    (email contains), an interval of instants; newest first, before ``before_id``."""

    tenant_id: str
    action: str | None = None
    email: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None


def _query(f: AuditFilter) -> Select[Any]:
    a = audit_log
    query = select(a).where(a.c.tenant_id == f.tenant_id)
    if f.action:
        query = query.where(a.c.action == f.action)
    if f.email:
        query = query.where(a.c.email.icontains(f.email, autoescape=True))
    if f.since is not None:
        query = query.where(a.c.at >= f.since)
    if f.until is not None:
        query = query.where(a.c.at < f.until)
    if f.before_id is not None:
        query = query.where(a.c.id < f.before_id)
    return query.order_by(a.c.id.desc())


async def entries(session: AsyncSession, f: AuditFilter, limit: int) -> list[Any]:
    """One page of entries, newest first."""
    return list((await session.execute(_query(f).limit(limit))).all())
