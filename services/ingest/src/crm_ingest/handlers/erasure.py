"""Erasure in the ingest schema (group ``ingest-erasure`` on crm.events.v1).

Ingest keeps personal data in three places: outbox rows (canonical events with
identities, names and addresses; kept for a day after publishing, for diagnosis,
and dead-lettered ones until deleted), CSV spool files (only while their import
runs: deleted when it ends) and nothing else: accepted ids are digests, import
reports hold line numbers and reasons, fingerprints are SHA-256 digests.

``privacy.redact_requested``: ingest cannot tell which of its rows are the
person's. An API request names only a profile id, a Shopify request one email
and customer id while the person may have others (merged records): only profile
knows. Published rows are copies of what is already on the topic, so every
published row of the tenant goes. Rows written before the request but not yet
published are still needed downstream (profile keeps orders as anonymous facts,
and erases them after applying them): the request waits (a transient error, the
batch is retried with backoff) until the relay has published them, then they go
too. Rows written after the request are new data.

``tenant.redact_requested``: every outbox row of the tenant (published or not:
nothing more of the shop is sent), its accepted ids, rate windows, imports with
their rejections and fingerprints, and their spool files. The tenant's
configuration (shop domains, webhook secrets, API keys) is not customer data and
stays with the tenant's lifecycle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.erasure import REDACT, TENANT_REDACT
from crm_common.kafka import Message, TransientError
from crm_ingest.repository import erasure as repo

log = logging.getLogger(__name__)


async def handle(session: AsyncSession, messages: Sequence[Message]) -> None:
    """Apply the batch's erasure requests (other records were decoded as skipped)."""
    for message in messages:
        event = message.payload
        if event.type == REDACT:
            await erase_person(session, event)
        elif event.type == TENANT_REDACT:
            await erase_tenant(session, event.tenant_id)


async def erase_person(session: AsyncSession, event: Any) -> None:
    waiting = await repo.unpublished_until(session, event.tenant_id, event.received_at)
    if waiting:
        raise TransientError(
            f"erasure waits for {waiting} outbox rows of its tenant to be published"
        )
    deleted = await repo.delete_published(session, event.tenant_id)
    log.info("erased published outbox rows", extra={"rows": deleted})


async def erase_tenant(session: AsyncSession, tenant_id: str) -> None:
    await repo.delete_tenant_rows(session, tenant_id)
    for path in await repo.delete_imports(session, tenant_id):
        await asyncio.to_thread(Path(path).unlink, missing_ok=True)
