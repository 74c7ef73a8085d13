"""CSV imports in the background: spooled file -> canonical events via the outbox.

Per piece of about ``import_batch_rows`` rows, ONE transaction: new row fingerprints
(exact duplicates dropped), rejected rows with their line numbers, the ids of the
facts told (``accepted_events``: a fact published by an earlier upload is not
published again), the piece's new events in the outbox and the import's progress
counters. A crash resumes from the last committed row: the next holder of the
import's lease skips ``rows_read`` rows.

Pieces end on an order boundary (:class:`~crm_ingest.domain.csv_chunks.OrderRuns`:
the rows of the order still open at the end of a read wait for the next one), so an
order's lines are never split by a commit. An order of more than
``MAX_ORDER_LINES`` rows is one rejected row (``rejected`` + 1, its rows counted in
``rows_read`` only), committed once the order ends; the rest of the file imports.

CPU work (reading and cutting rows, mapping, grouping, hashing) runs in a worker
thread, so the event loop (HTTP requests, Kafka consumers of the same process) only
waits on the database.

The lease is the ``owner`` column plus ``updated_at``, refreshed by every commit
(and by a bare heartbeat while a long order is being read); an import whose holder
stopped committing for ``import_stale_seconds`` is taken over by any replica (the
spool directory must then be shared between replicas).

The spool file (customers' personal data, 0600 in a 0700 directory, see
:mod:`crm_ingest.csvfile`) lives exactly as long as an import may still read it:
it is deleted once the import is committed as completed or failed, and kept while
it is queued or processing (a crash resumes from it). The sweep deletes what a
crash left behind: files of finished imports, and files no import row names (an
upload cut off before it was recorded) once unwritten for ``SPOOL_GRACE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import Database
from crm_common.outbox import OutboxRow, enqueue_rows, outbox_row
from crm_ingest import metrics
from crm_ingest.config import EVENTS_TOPIC, SCHEMA, IngestService
from crm_ingest.csvfile import ChunkReader, detect_encoding, private_dir
from crm_ingest.domain import HeaderError, RowError, RowKind, RowMapper, TenantContext
from crm_ingest.domain.csv_chunks import OrderRuns, Row
from crm_ingest.domain.csvrows import OrderGrouper, OrderTooLarge, row_fingerprint
from crm_ingest.domain.facts import Told, payloads, told
from crm_ingest.repository import events as events_repo
from crm_ingest.repository import imports as repo
from crm_ingest.repository import tenants as tenants_repo

log = logging.getLogger(__name__)

Prepared = list[tuple[int, str, Any]]
Facts = list[Told]

SPOOL_GRACE_SECONDS = 3600.0
"""A spool file no import names is an upload in progress until unwritten this long."""
_SPOOL_NAME = re.compile(r"^(imp_[0-9a-f]{32})\.csv$")


@dataclass
class Outcome:
    """What one committed piece adds to the import's counters and report."""

    rows: int  # read from the file
    accepted: int = 0
    facts: Facts = field(default_factory=list)
    rejections: list[tuple[int, str]] = field(default_factory=list)
    duplicates: int = 0


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

    async def sweep_spool(self) -> int:
        """Delete spool files no import will read again; the number deleted."""
        found = await asyncio.to_thread(_spool_files, self.settings.import_spool_dir)
        if not found:
            return 0
        async with self.db.transaction() as session:
            status = await repo.statuses(session, list(found))
        cutoff = time.time() - SPOOL_GRACE_SECONDS
        doomed = [
            path
            for import_id, (path, mtime) in found.items()
            if status.get(import_id, "") not in repo.ACTIVE
            and (import_id in status or mtime < cutoff)
        ]
        for path in doomed:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        if doomed:
            log.info("swept spool files", extra={"files": len(doomed)})
        return len(doomed)

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
        except LeaseLost:  # the new holder reads the spool file: keep it
            log.warning("import taken over by another worker", extra={"import_id": import_id})
        except Exception as exc:
            log.exception("import failed", extra={"import_id": import_id})
            await self._finish(row, "failed", f"{type(exc).__name__}: {exc}")

    async def _process(self, row: Any) -> None:
        path = Path(row.spool_path)
        if not await asyncio.to_thread(path.exists):
            await self._finish(row, "failed", "spool file missing on this replica")
            return
        encoding = row.encoding or detect_encoding(path)
        reader = ChunkReader(path, encoding)
        try:
            try:
                mapper = await self._mapper(row, reader.header)
            except HeaderError as exc:
                await self._finish(row, "failed", f"header: {exc}", encoding=encoding)
                return
            await asyncio.to_thread(reader.skip, row.rows_read)
            await self._chunks(row, reader, mapper)
        finally:
            reader.close()
        await self._finish(row, "completed", None, encoding=encoding)

    async def _mapper(self, row: Any, header: Sequence[str]) -> RowMapper:
        async with self.db.transaction() as session:
            tenant = await tenants_repo.get_tenant(session, row.tenant_id)
        if tenant is None:
            raise RuntimeError(f"tenant {row.tenant_id!r} no longer exists")
        context = TenantContext(row.tenant_id, tenant.currency, tenant.timezone)
        return RowMapper(
            row.kind,
            header,
            context,
            received_at=row.created_at,
            source=row.source,
            preset=row.preset,
        )

    async def _chunks(self, row: Any, reader: ChunkReader, mapper: RowMapper) -> None:
        """Commit the file piece by piece. The next rows are read and mapped (in a
        worker thread) while the database commits the previous piece, at most one
        read ahead."""
        size = self.settings.import_batch_rows
        orders = mapper.columns.kind is RowKind.ORDERS
        runs = OrderRuns(mapper.columns.fields.get("order_id") if orders else None)
        ahead = asyncio.ensure_future(asyncio.to_thread(_read_mapped, reader, runs, size, mapper))
        try:
            while True:
                pieces, eof = await asyncio.shield(ahead)
                if not eof:
                    ahead = asyncio.ensure_future(
                        asyncio.to_thread(_read_mapped, reader, runs, size, mapper)
                    )
                for piece in pieces:
                    await self._commit(row, mapper, piece)
                if not pieces:  # inside an order longer than one read: keep the lease
                    await self._save(row, Outcome(rows=0), [])
                if eof:
                    return
        finally:  # the file is closed after this: let a read in flight end first
            await asyncio.wait([ahead])
            if not ahead.cancelled():
                ahead.exception()  # retrieved: an error here is the import's own

    async def _commit(self, row: Any, mapper: RowMapper, piece: Prepared | OrderTooLarge) -> None:
        if isinstance(piece, OrderTooLarge):
            await self._save(row, Outcome(piece.lines, rejections=[(piece.line, piece.reason)]), [])
            return
        prints = list(dict.fromkeys(fp for _, fp, _ in piece))
        async with self.db.transaction() as session:
            new = await repo.new_fingerprints(session, row.import_id, prints)
            outcome = await asyncio.to_thread(_select, piece, new, mapper)
            events = await events_repo.claim_news(session, [t.events for t in outcome.facts])
            rows = await asyncio.to_thread(_encode, events, outcome.facts)
            await self._record(session, row, outcome, rows)

    async def _save(self, row: Any, outcome: Outcome, events: list[OutboxRow]) -> None:
        async with self.db.transaction() as session:
            await self._record(session, row, outcome, events)

    async def _record(
        self, session: AsyncSession, row: Any, outcome: Outcome, events: list[OutboxRow]
    ) -> None:
        await enqueue_rows(session, SCHEMA, events)
        await repo.add_rejections(session, row.import_id, outcome.rejections)
        held = await repo.advance(
            session,
            row.import_id,
            self.owner,
            rows_read=outcome.rows,
            accepted=outcome.accepted,
            rejected=len(outcome.rejections),
            duplicates=outcome.duplicates,
            events=len(events),
        )
        if not held:
            raise LeaseLost(row.import_id)
        metrics.IMPORT_ROWS.labels(row.kind, "accepted").inc(outcome.accepted)
        metrics.IMPORT_ROWS.labels(row.kind, "rejected").inc(len(outcome.rejections))
        metrics.IMPORT_ROWS.labels(row.kind, "duplicate").inc(outcome.duplicates)

    async def _finish(self, row: Any, status: str, error: str | None, **values: Any) -> None:
        """Commit the import's end, then delete its spool file (a crash in between
        leaves the file to :meth:`sweep_spool`); a lost lease keeps both."""
        async with self.db.transaction() as session:
            ended = await repo.finish(session, row.import_id, self.owner, status, error, **values)
        if ended:
            await asyncio.to_thread(Path(row.spool_path).unlink, missing_ok=True)


def _spool_files(directory: Path) -> dict[str, tuple[Path, float]]:
    """Import id -> (path, last write) of every spool file in ``directory``."""
    found: dict[str, tuple[Path, float]] = {}
    for entry in private_dir(directory).iterdir():
        match = _SPOOL_NAME.match(entry.name)
        if match is not None:
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                found[match.group(1)] = (entry, entry.stat().st_mtime)
    return found


def _read_mapped(
    reader: ChunkReader, runs: OrderRuns, size: int, mapper: RowMapper
) -> tuple[list[Prepared | OrderTooLarge], bool]:
    """The next ``size`` rows, cut at order boundaries and mapped; True at the end of
    the file (CPU work, run off the event loop)."""
    fresh = reader.read(size)
    eof = len(fresh) < size
    pieces = runs.feed(fresh) + (runs.close() if eof else [])
    return [p if isinstance(p, OrderTooLarge) else _prepare(mapper, p) for p in pieces], eof


def _prepare(mapper: RowMapper, chunk: Sequence[Row]) -> Prepared:
    """Fingerprint and map each row."""
    return [(line, row_fingerprint(row), mapper.read_row(row)) for line, row in chunk]


def _encode(events: Sequence[Any], facts: Sequence[Told]) -> list[OutboxRow]:
    """The outbox rows of ``events`` (encoded once: orders were on the way)."""
    known = payloads(facts)
    return [outbox_row(EVENTS_TOPIC, e, known.get(id(e))) for e in events]


def _select(prepared: Prepared, new: set[str], mapper: RowMapper) -> Outcome:
    """Drop duplicates, collect rejections, group order lines (run off the event loop)."""
    outcome = Outcome(rows=len(prepared))
    seen: set[str] = set()
    grouper = OrderGrouper()
    for line, fingerprint, result in prepared:
        if fingerprint not in new or fingerprint in seen:
            outcome.duplicates += 1
            continue
        seen.add(fingerprint)
        if isinstance(result, RowError):
            outcome.rejections.append((line, result.reason))
        elif mapper.columns.kind is RowKind.ORDERS:
            _told(outcome, mapper, grouper.add(result, line))
        else:
            _told(outcome, mapper, result)
    _told(outcome, mapper, grouper.flush())
    outcome.accepted = outcome.rows - len(outcome.rejections) - outcome.duplicates
    return outcome


def _told(outcome: Outcome, mapper: RowMapper, result: Any) -> None:
    if isinstance(result, OrderTooLarge):
        outcome.rejections.append((result.line, result.reason))
    elif result is not None:
        outcome.facts.append(told(result, mapper.context.received_at))
