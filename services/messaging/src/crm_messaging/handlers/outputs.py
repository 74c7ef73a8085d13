"""The postal DM print batches and the outbound call list, as operators use them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.domain.dm import REPLACEMENT, DmEncoding, DmFile, DmRow, dm_file
from crm_messaging.handlers.errors import NotFound
from crm_messaging.handlers.events import message_event, publish
from crm_messaging.repository import calls, dm
from crm_messaging.sending import repository as repo
from crm_messaging.sending import transitions as tr

CallOutcome = Literal["reached", "no_answer", "declined", "converted"]


@dataclass(frozen=True)
class Export:
    content: bytes
    filename: str
    replaced: list[dict[str, Any]]  # see replacements()


async def _file(
    session: AsyncSession, tenant_id: str, batch_id: str, encoding: DmEncoding
) -> tuple[RowMapping, list[DmRow], DmFile]:
    batch = await dm.lock_batch(session, tenant_id, batch_id)
    if batch is None:
        raise NotFound(f"unknown DM batch {batch_id!r}")
    items = await dm.batch_items(session, batch_id)
    rows = [DmRow.model_validate(item["row"]) for item in items]
    return batch, rows, dm_file(rows, encoding)


def _replaced(rows: list[DmRow], file: DmFile) -> list[dict[str, Any]]:
    return [
        {
            "row": p.row,
            "message_id": rows[p.row].message_id,
            "column": p.column,
            "characters": p.characters,
            "replacement": REPLACEMENT,
        }
        for p in file.replaced
    ]


async def replacements(
    session: AsyncSession, tenant_id: str, batch_id: str, encoding: DmEncoding
) -> list[dict[str, Any]]:
    """Cells of the print file whose characters ``encoding`` cannot hold: they are
    printed as REPLACEMENT (row 0-based, header excluded, with its message id)."""
    _, rows, file = await _file(session, tenant_id, batch_id, encoding)
    return _replaced(rows, file)


async def export_batch(
    session: AsyncSession, tenant_id: str, batch_id: str, encoding: DmEncoding, now: datetime
) -> Export:
    """The print file; the first download marks the batch exported and its messages sent.
    A character the encoding cannot hold is replaced and reported, never a failure."""
    batch, rows, file = await _file(session, tenant_id, batch_id, encoding)
    for message_id in await dm.mark_exported(session, batch_id, now):
        done = await repo.complete_sending(session, message_id, now)
        if done is not None:
            await tr.announce_sent(session, done, now)
    filename = f"dm-{batch['local_date'].isoformat()}-{batch_id[:8]}.csv"
    return Export(file.content, filename, _replaced(rows, file))


async def record_call_outcome(
    session: AsyncSession,
    tenant_id: str,
    entry_id: str,
    outcome: CallOutcome,
    note: str | None,
    now: datetime,
) -> int:
    entry = await calls.lock_entry(session, tenant_id, entry_id)
    if entry is None:
        raise NotFound(f"unknown call list entry {entry_id!r}")
    seq = await calls.add_outcome(session, tenant_id, entry_id, outcome, note)
    message = await repo.get_message(session, entry_id, tenant_id)
    assert message is not None
    event = message_event("call_outcome", message, now, discriminators=[str(seq)], outcome=outcome)
    await publish(session, [event])
    return seq
