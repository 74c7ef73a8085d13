"""After a crash: what to do with messages found in ``sending``.

A message stays ``sending`` only while an attempt is in flight; the attempt
holds a lease (``lease_until``, database time, default 120 s, longer than any
provider timeout). A lease that expired means the process died mid-send.

Policy, per channel:

- **sms, line**: send again with the same provider idempotency key
  (``I-Twilio-Idempotency-Token`` / ``X-Line-Retry-Key``, both derived from the
  message id). If the first request reached the provider, the provider answers
  with the original message and nobody receives a second one.
- **email**: SMTP has no idempotency key, so the dispatcher commits a marker
  ``smtp_stage = 'data'`` immediately before the DATA command, and ``sent``
  immediately after the 250 reply. A message found without the marker never
  reached DATA, so it was certainly not delivered: it is sent again. A message
  with the marker was *possibly* delivered (the crash fell between DATA and the
  commit of ``sent``, a window of one SMTP round trip plus one commit); it is
  never re-sent (at most once) and ends ``failed`` with reason
  ``in_doubt:smtp_data`` so the send log and the ``message.failed`` event say so.
- **postal_dm, call**: completed inside the deciding transaction, never leased.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.customers import Channel
from crm_messaging.config import MessagingService
from crm_messaging.domain.recipients import recipient_state
from crm_messaging.sending import transitions as tr
from crm_messaging.sending.channels.base import Outgoing
from crm_messaging.sending.prepare import UNKNOWN_RECIPIENT, Row, load_batch
from crm_messaging.sending.render import tracking_context

IN_DOUBT = "in_doubt:smtp_data"


async def recover(
    session: AsyncSession, rows: Sequence[Row], now: datetime, settings: MessagingService
) -> list[Outgoing]:
    """Resolve stale ``sending`` rows; return those to send again (same content, same key)."""
    if not rows:
        return []
    batch = await load_batch(session, rows, now)
    lease = timedelta(seconds=settings.lease_seconds)
    again: list[Outgoing] = []
    for row in rows:
        if row["channel"] == Channel.EMAIL.value and row["smtp_stage"] == "data":
            await tr.fail(session, row, now, IN_DOUBT)
            continue
        person = batch.people[(row["tenant_id"], row["profile_id"])]
        traits = batch.traits.get(person)
        if traits is None or row["rendered"] is None:
            await tr.fail(session, row, now, UNKNOWN_RECIPIENT)
            continue
        config = batch.configs[row["tenant_id"]]
        token = await tr.start_sending(session, row, now, None, row["provider"], lease)
        unsubscribe = tracking_context(row, config, settings.public_url, now).unsubscribe_url()
        recipient = recipient_state(person[1], traits)
        again.append(Outgoing(row, dict(row["rendered"]), recipient, config, unsubscribe, token))
    return again
