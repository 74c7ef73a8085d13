"""Erasure in the messaging schema, inside the consumer batch's transaction.

One person, as profile attributed the request: ``privacy.redact_requested``'s
``profile.activity`` on crm.profiles.v1, applied by the ``messaging-profiles``
group, in order with the person's snapshots (so the recipient row still holds the
addresses that find their order lines). Profile is the only service that can tell
whose request it is (a Shopify request names an email and a customer id, an API
request a profile id); the records merged into the person are its aliases here
(``profile_aliases``), and their rows are erased with it:

* recipient snapshot: contact details out (:func:`~crm_messaging.domain.erasure.without_contact`);
  profile's erased snapshot follows and, being a higher version, replaces it;
* messages still to be sent (queued, held, or a postal piece waiting in an open
  print batch): skipped with reason ``erased`` (``message.skipped`` is published);
* every message: rendered parts, context and provider error text cleared; ids,
  channel, source, state, reason, provider ids and times stay (send log counts,
  campaign stats, attribution, frequency caps);
* postal DM batch rows deleted (a later download of the batch leaves the person
  out); call list entries lose name, phone and script and are closed, outcomes
  keep the outcome but lose the note;
* journey runs: their trigger context is cleared (status, steps and times stay);
* order lines (``orders``, kept for recommendations): email and phone cleared for
  the person's profile ids, addresses and attributed orders; products stay.

The same request on crm.events.v1 (group ``messaging-orders``, which writes the
order lines) clears the lines it names itself: its email, phone, order ids, and a
``crm:<profile id>`` identity's lines; so a line recorded after the profile-side
erasure, by a group that was behind, is caught too.

A tenant: ``tenant.redact_requested`` on crm.events.v1 deletes every row of the
tenant (:func:`crm_messaging.repository.erasure.erase_tenant`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import PrivacyRedactRequested
from crm_common.normalize import normalize_email, normalize_phone
from crm_messaging.domain.erasure import ERASED, PENDING_STATES, without_contact
from crm_messaging.repository import erasure as repo
from crm_messaging.repository.recipients import resolve_aliases
from crm_messaging.sending import transitions as tr

REDACT_TYPE = "privacy.redact_requested"
CRM_PLATFORM = "crm"  # identity.external_ids key of events about a known profile


async def erase_person(
    session: AsyncSession, tenant_id: str, profile_id: str, now: datetime
) -> None:
    """Erase the person's data (``profile_id`` is the live profile profile named)."""
    pids = await repo.aliases_of(session, tenant_id, profile_id)
    emails: set[str | None] = set()
    phones: set[str | None] = set()
    for row in await repo.lock_recipients(session, tenant_id, pids):
        emails.add(row["email"])
        phones.add(row["phone"])
        await repo.set_recipient(
            session, tenant_id, row["profile_id"], without_contact(row["traits"])
        )
    await _stop_pending(session, tenant_id, pids, now)
    message_ids = await repo.scrub_messages(session, tenant_id, pids, in_flight=("sending",))
    await repo.delete_dm_items(session, message_ids)
    await repo.scrub_calls(session, message_ids)
    await repo.scrub_runs(session, tenant_id, pids)
    await repo.scrub_orders(
        session,
        tenant_id,
        profile_ids=pids,
        emails=_present(emails),
        phones=_present(phones),
        order_ids=await repo.order_ids_of(session, tenant_id, pids),
    )


async def _stop_pending(
    session: AsyncSession, tenant_id: str, pids: list[str], now: datetime
) -> None:
    for row in await repo.messages_of(session, tenant_id, pids, PENDING_STATES):
        await tr.skip(session, row, now, ERASED, None)
    sending = await repo.messages_of(session, tenant_id, pids, ("sending",))
    waiting = set(await repo.pending_dm_messages(session, [row["message_id"] for row in sending]))
    for row in sending:
        if row["message_id"] in waiting:
            await tr.skip(session, row, now, ERASED, None)


async def erase_requested_orders(session: AsyncSession, event: PrivacyRedactRequested) -> None:
    """Clear the order lines a redaction request names (see the module docstring)."""
    tenant_id, identity = event.tenant_id, event.identity
    emails = {normalize_email(identity.email)}
    phones = {identity.phone, normalize_phone(identity.phone)}
    pids: list[str] = []
    direct = identity.external_ids.get(CRM_PLATFORM)
    if direct:
        live = (await resolve_aliases(session, [(tenant_id, direct)]))[(tenant_id, direct)]
        pids = sorted({direct, *await repo.aliases_of(session, tenant_id, live)})
        for row in await repo.lock_recipients(session, tenant_id, pids):
            emails.add(row["email"])
            phones.add(row["phone"])
    order_ids = set(event.data.orders) | await repo.order_ids_of(session, tenant_id, pids)
    await repo.scrub_orders(
        session,
        tenant_id,
        profile_ids=pids,
        emails=_present(emails),
        phones=_present(phones),
        order_ids=order_ids,
    )


def _present(values: set[str | None]) -> set[str]:
    return {v for v in values if v}


async def erase_tenant(session: AsyncSession, tenant_id: str) -> None:
    await repo.erase_tenant(session, tenant_id)
