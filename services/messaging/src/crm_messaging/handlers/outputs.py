"""The postal DM print batches and the outbound call list, as operators use them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.dispatch import transitions as tr
from crm_messaging.domain.dm import DmEncoding, DmRow, dm_csv
from crm_messaging.domain.errors import UnencodableCharacters
from crm_messaging.handlers.errors import Invalid, NotFound
from crm_messaging.handlers.events import message_event, publish
from crm_messaging.repository import calls, dm
from crm_messaging.repository import messages as repo

CallOutcome = Literal["reached", "no_answer", "declined", "converted"]


@dataclass(frozen=True)
class Export:
    content: bytes
    filename: str


async def export_batch(
    session: AsyncSession, tenant_id: str, batch_id: str, encoding: DmEncoding, now: datetime
) -> Export:
    """The print file; the first download marks the batch exported and its messages sent."""
    batch = await dm.lock_batch(session, tenant_id, batch_id)
    if batch is None:
        raise NotFound(f"unknown DM batch {batch_id!r}")
    items = await dm.batch_items(session, batch_id)
    rows = [DmRow.model_validate(item["row"]) for item in items]
    try:
        content = dm_csv(rows, encoding)
    except UnencodableCharacters as exc:
        details = [
            {"path": f"rows[{p.row}].{p.column}", "message": f"not in {encoding}: {p.characters}"}
            for p in exc.problems
        ]
        raise Invalid(str(exc), details) from exc
    for message_id in await dm.mark_exported(session, batch_id, now):
        done = await repo.complete_sending(session, message_id, now)
        if done is not None:
            await tr.announce_sent(session, done, now)
    return Export(content, f"dm-{batch['local_date'].isoformat()}-{batch_id[:8]}.csv")


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
