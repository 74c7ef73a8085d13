"""CSV imports in the background: spooled file -> canonical events via the outbox.

Per chunk of ``import_batch_rows`` rows, ONE transaction: new row fingerprints
(exact duplicates dropped), rejected rows with their line numbers, the chunk's
events in the outbox and the import's progress counters. A crash resumes from the
last committed row: the next holder of the import's lease skips ``rows_read`` rows.
Chunks end on an order boundary (the rows of the order still open at the end of a
chunk move to the next one), so an order's lines are never split by a commit.

The lease is the ``owner`` column plus ``updated_at``, refreshed by every commit; an
import whose holder stopped committing for ``import_stale_seconds`` is taken over by
any replica (the spool directory must then be shared between replicas).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crm_common.db import Database
from crm_common.normalize import clean_text
from crm_common.outbox import enqueue
from crm_ingest import metrics
from crm_ingest.config import EVENTS_TOPIC, SCHEMA, IngestService
from crm_ingest.csvfile import ChunkReader, Row, detect_encoding
from crm_ingest.domain import (
    HeaderError,
    OrderGrouper,
    RowError,
    RowKind,
    RowMapper,
    TenantContext,
    row_fingerprint,
)
from crm_ingest.repository import imports as repo
from crm_ingest.repository import tenants as tenants_repo

log = logging.getLogger(__name__)

Prepared = list[tuple[int, str, Any]]


class LeaseLost(RuntimeError):
    """Another replica took the import over (we were too slow to commit)."""


class ImportWorker:
    def __init__(self, db: Database, settings: IngestService) -> None:
        self.db = db
        self.settings = settings
        self.owner = uuid.uuid4().hex
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def submit(self, import_id: str, *, stale: bool = False) -> None:
        if import_id in self._tasks:
            return
        task = asyncio.create_task(self._run(import_id, stale), name=f"import:{import_id}")
        self._tasks[import_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(import_id, None))

    async def resume_stale(self) -> None:
        """Take over imports whose holder stopped (a crash, here or in another replica)."""
        async with self.db.transaction() as session:
            ids = await repo.stale_imports(session, self.settings.import_stale_seconds)
        for import_id in ids:
            self.submit(import_id, stale=True)

    async def start_queued(self) -> None:
        """Start imports queued by an API-only process (``INGEST_ROLE=api``).

        Claiming is an atomic ``UPDATE ... WHERE status = 'queued'``: when several
        workers see the same import, exactly one of them runs it.
        """
        async with self.db.transaction() as session:
            ids = await repo.queued_imports(session)
        for import_id in ids:
            self.submit(import_id)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self, import_id: str, stale: bool) -> None:
        seconds = self.settings.import_stale_seconds if stale else None
        async with self.db.transaction() as session:
            row = await repo.claim(session, import_id, self.owner, seconds)
        if row is None:
            return
        try:
            await self._process(row)
        except LeaseLost:
            log.warning("import taken over by another worker", extra={"import_id": import_id})
        except Exception as exc:
            log.exception("import failed", extra={"import_id": import_id})
            await self._finish(import_id, "failed", f"{type(exc).__name__}: {exc}")

    async def _process(self, row: Any) -> None:
        path = Path(row.spool_path)
        if not await asyncio.to_thread(path.exists):
            await self._finish(row.import_id, "failed", "spool file missing on this replica")
            return
        encoding = row.encoding or detect_encoding(path)
        reader = ChunkReader(path, encoding)
        try:
            try:
                mapper = await self._mapper(row, reader.header)
            except HeaderError as exc:
                await self._finish(row.import_id, "failed", f"header: {exc}", encoding=encoding)
                return
            await asyncio.to_thread(reader.skip, row.rows_read)
            await self._chunks(row, reader, mapper)
        finally:
            reader.close()
        await self._finish(row.import_id, "completed", None, encoding=encoding)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def _mapper(self, row: Any, header: Sequence[str]) -> RowMapper:
        async with self.db.transaction() as session:
            tenant = await tenants_repo.get_tenant(session, row.tenant_id)
        if tenant is None:
            raise RuntimeError(f"tenant {row.tenant_id!r} no longer exists")
        context = TenantContext(row.tenant_id, tenant.currency, tenant.timezone)
        return RowMapper(row.kind, header, context, received_at=row.created_at, source=row.source)

    async def _chunks(self, row: Any, reader: ChunkReader, mapper: RowMapper) -> None:
        size = self.settings.import_batch_rows
        carry: list[Row] = []
        while True:
            fresh = await asyncio.to_thread(reader.read, size)
            eof = len(fresh) < size
            rows = carry + fresh
            cut = len(rows) if eof else _order_boundary(rows, mapper)
            chunk, carry = rows[:cut], rows[cut:]
            if chunk:
                await self._commit(row, mapper, chunk)
            if eof:
                return

    async def _commit(self, row: Any, mapper: RowMapper, chunk: list[Row]) -> None:
        prepared = await asyncio.to_thread(_prepare, mapper, chunk)
        orders = mapper.columns.kind is RowKind.ORDERS
        async with self.db.transaction() as session:
            prints = list(dict.fromkeys(fp for _, fp, _ in prepared))
            new = await repo.new_fingerprints(session, row.import_id, prints)
            events, rejections, duplicates = _select(prepared, new, orders)
            await enqueue(session, SCHEMA, EVENTS_TOPIC, events)
            await repo.add_rejections(session, row.import_id, rejections)
            accepted = len(chunk) - len(rejections) - duplicates
            held = await repo.advance(
                session,
                row.import_id,
                self.owner,
                rows_read=len(chunk),
                accepted=accepted,
                rejected=len(rejections),
                duplicates=duplicates,
                events=len(events),
            )
            if not held:
                raise LeaseLost(row.import_id)
        for outcome, n in (("accepted", accepted), ("rejected", len(rejections))):
            metrics.IMPORT_ROWS.labels(row.kind, outcome).inc(n)
        metrics.IMPORT_ROWS.labels(row.kind, "duplicate").inc(duplicates)

    async def _finish(self, import_id: str, status: str, error: str | None, **values: Any) -> None:
        async with self.db.transaction() as session:
            await repo.finish(session, import_id, self.owner, status, error, **values)


def _prepare(mapper: RowMapper, chunk: list[Row]) -> Prepared:
    """Fingerprint and map each row (CPU work, run off the event loop)."""
    return [(line, row_fingerprint(row), mapper.map_row(row)) for line, row in chunk]


def _select(
    prepared: Prepared, new: set[str], orders: bool
) -> tuple[list[Any], list[tuple[int, str]], int]:
    """Drop duplicates, collect rejections, group order lines: (events, rejections, dups)."""
    seen: set[str] = set()
    events: list[Any] = []
    rejections: list[tuple[int, str]] = []
    duplicates = 0
    grouper = OrderGrouper()
    for line, fingerprint, result in prepared:
        if fingerprint not in new or fingerprint in seen:
            duplicates += 1
            continue
        seen.add(fingerprint)
        if isinstance(result, RowError):
            rejections.append((line, result.reason))
        elif orders:
            done = grouper.add(result)
            events += [done] if done is not None else []
        else:
            events.append(result)
    last = grouper.flush()
    return events + ([last] if last is not None else []), rejections, duplicates


def _order_boundary(rows: list[Row], mapper: RowMapper) -> int:
    """Rows before the trailing run of the last order (all rows for customer files)."""
    column = mapper.columns.fields.get("order_id")
    if mapper.columns.kind is not RowKind.ORDERS or column is None:
        return len(rows)

    def order_id(index: int) -> str | None:
        value = rows[index][1].get(column)
        return clean_text(value) if isinstance(value, str) else None

    last, index = order_id(len(rows) - 1), len(rows) - 1
    while index >= 0 and order_id(index) == last:
        index -= 1
    return index + 1
