"""Channels that only write rows: the postal DM print batch and the outbound call list."""

from __future__ import annotations

from crm_common.events.customers import Channel
from crm_messaging.domain.backoff import OutcomeClass
from crm_messaging.domain.clock import wall, zone
from crm_messaging.domain.dm import dm_row
from crm_messaging.domain.errors import InvalidIdentifier
from crm_messaging.repository import calls, dm
from crm_messaging.sending.channels.base import Outgoing, SendContext, SendResult


class PostalDmAdapter:
    """Sending = adding the piece to the tenant's print batch of the local day.

    The message stays ``sending`` until the batch is downloaded (exported)."""

    channel = Channel.POSTAL_DM
    provider = "dm_batch"
    in_transaction = True

    async def send(self, out: Outgoing, ctx: SendContext) -> SendResult:
        assert ctx.session is not None
        person = out.recipient
        if person.address is None:
            return SendResult(OutcomeClass.PERMANENT, error="incomplete_address")
        try:
            row = dm_row(out.message_id, person.name or "", person.address, out.parts)
        except InvalidIdentifier:
            return SendResult(OutcomeClass.PERMANENT, error="incomplete_address")
        tenant_id = out.config.tenant_id
        local_date = wall(ctx.now, zone(out.config.timezone)).date()
        batch_id = await dm.open_batch(ctx.session, tenant_id, local_date)
        await dm.add_item(ctx.session, batch_id, tenant_id, out.message_id, row.model_dump())
        return SendResult.ok(provider_message_id=batch_id, state="sending")


class CallListAdapter:
    """Sending = an entry on the outbound call list (who, why, script)."""

    channel = Channel.CALL
    provider = "call_list"
    in_transaction = True

    async def send(self, out: Outgoing, ctx: SendContext) -> SendResult:
        assert ctx.session is not None
        message = out.message
        await calls.add_entry(
            ctx.session,
            {
                "entry_id": out.message_id,
                "tenant_id": message["tenant_id"],
                "profile_id": message["profile_id"],
                "name": out.recipient.name,
                "phone": out.recipient.phone,
                "reason": f"{message['source_kind']}:{message['source_id']}",
                "script": out.parts,
            },
        )
        return SendResult.ok(provider_message_id=out.message_id)
