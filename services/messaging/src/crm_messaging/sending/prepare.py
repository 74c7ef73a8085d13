"""The decide phase, in the claiming transaction: guardrails, rendering, ``sending``.

Per claimed batch: resolve merged profiles, lock the people (sorted advisory
locks, so caps count every send even with several replicas), read their
snapshots, policies and recent marketing sends, then decide each message at
``now``. The messages to send are rendered together in the render pool (worker
processes, time/output/memory budgets per message): a template over budget
fails its own message (``template_over_budget``), never the batch. Local
channels (postal DM, call) complete right here; remote ones come back as
:class:`Outgoing` for the send phase, after this transaction commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.customers import Channel
from crm_messaging.config import MessagingService
from crm_messaging.domain.backoff import OutcomeClass
from crm_messaging.domain.guardrails import (
    Hold,
    MessageIntent,
    RecipientState,
    SendHistory,
    SentRecord,
    Skip,
    decide,
)
from crm_messaging.domain.policy import TenantPolicy
from crm_messaging.domain.recipients import recipient_state
from crm_messaging.domain.rendering import MessageTemplate
from crm_messaging.repository import recipients as recipients_repo
from crm_messaging.repository import templates as templates_repo
from crm_messaging.repository.tenants import TenantConfig, load_config
from crm_messaging.sending import repository as repo
from crm_messaging.sending import transitions as tr
from crm_messaging.sending.channels.base import ChannelAdapter, Outgoing, SendContext
from crm_messaging.sending.render import (
    TRACKED_CHANNELS,
    RenderedMessage,
    RenderJob,
    needs_recommendations,
    recommendations_for,
    template_key,
    tracking_context,
)
from crm_messaging.sending.render_pool import RenderFailure, RenderPool

Row = Mapping[Any, Any]
Key = tuple[str, str]
UNKNOWN_RECIPIENT = "unknown_recipient"


@dataclass
class Batch:
    """What the decisions of one claimed batch read, loaded once."""

    people: dict[Key, Key]  # (tenant, profile on the message) -> (tenant, surviving profile)
    traits: dict[Key, dict[str, Any]]
    configs: dict[str, TenantConfig]
    policies: dict[str, TenantPolicy]
    history: dict[Key, list[SentRecord]]
    templates: Mapping[tuple[str, str, int], Row]
    recommendations: dict[Key, list[dict[str, str]]] = field(default_factory=dict)


async def load_batch(session: AsyncSession, rows: Sequence[Row], now: datetime) -> Batch:
    keys = [(r["tenant_id"], r["profile_id"]) for r in rows]
    aliases = await recipients_repo.resolve_aliases(session, keys)
    people = {k: (k[0], aliases[k]) for k in keys}
    await repo.lock_profiles(session, people.values())
    configs = {t: await load_config(session, t) for t in sorted({k[0] for k in keys})}
    policies = {t: c.settings.policy(c.timezone) for t, c in configs.items()}
    windows = [cap.window for p in policies.values() for cap in p.frequency_caps]
    since = now - max(windows, default=timedelta(0))
    sent = await repo.marketing_history(session, [*keys, *people.values()], since)
    history = {k: _merged(sent, k, person) for k, person in people.items()}
    wanted = {
        (r["tenant_id"], r["template_id"], r["template_version"])
        for r in rows
        if r["template_id"] is not None
    }
    return Batch(
        people=people,
        traits=await recipients_repo.load_traits(session, people.values()),
        configs=configs,
        policies=policies,
        history=history,
        templates=await templates_repo.by_versions(session, wanted),
    )


def _merged(sent: dict[Key, list[SentRecord]], key: Key, person: Key) -> list[SentRecord]:
    return sent.get(key, []) + (sent.get(person, []) if person != key else [])


def template_of(row: Row, batch: Batch) -> MessageTemplate:
    channel = Channel(row["channel"])
    if row["inline_parts"] is not None:
        return MessageTemplate(template_id="inline", channel=channel, parts=row["inline_parts"])
    stored = batch.templates[(row["tenant_id"], row["template_id"], row["template_version"])]
    return MessageTemplate(template_id=row["template_id"], channel=channel, parts=stored["parts"])


@dataclass(frozen=True)
class _Send:
    """A message the guardrails let through, on its way to the render pool."""

    row: Row
    recipient: RecipientState
    template: MessageTemplate


@dataclass
class Preparer:
    settings: MessagingService
    adapters: Mapping[Channel, ChannelAdapter]
    pool: RenderPool

    async def prepare(
        self, session: AsyncSession, rows: Sequence[Row], now: datetime
    ) -> list[Outgoing]:
        """Decide every claimed row, render the ones to send in one pool call
        (off the event loop, budgeted), and return the remote sends to make
        after commit."""
        batch = await load_batch(session, rows, now)
        sends = [send for row in rows if (send := await self._decide(session, row, batch, now))]
        jobs = [await self._job(session, send, batch, now) for send in sends]
        outcomes = await self.pool.render(jobs) if jobs else []
        remote: list[Outgoing] = []
        claims: list[tr.Claimed] = []
        for send, outcome in zip(sends, outcomes, strict=True):
            out = await self._apply(session, send, outcome, batch, now, claims)
            if out is not None:
                remote.append(out)
        lease = timedelta(seconds=self.settings.lease_seconds)
        await tr.start_sending_many(session, claims, lease)
        return remote

    async def _decide(
        self, session: AsyncSession, row: Row, batch: Batch, now: datetime
    ) -> _Send | None:
        key = (row["tenant_id"], row["profile_id"])
        person = batch.people[key]
        traits = batch.traits.get(person)
        if traits is None:
            await tr.skip(session, row, now, UNKNOWN_RECIPIENT, None)
            return None
        recipient = recipient_state(person[1], traits)
        channel = Channel(row["channel"])
        intent = MessageIntent(
            message_id=row["message_id"], channel=channel, purpose=row["purpose"]
        )
        history = SendHistory(sent=tuple(batch.history[key]))
        decision = decide(intent, recipient, batch.policies[key[0]], history, now)
        if isinstance(decision, Skip):
            await tr.skip(session, row, now, decision.reason, decision.detail)
            return None
        if isinstance(decision, Hold):
            await tr.hold(session, row, now, decision.until, decision.reason)
            return None
        # Counted before the render: a later message of the same person in this
        # batch sees it under its caps even if this one then fails to render.
        batch.history[key].append(
            SentRecord(channel=row["channel"], purpose=row["purpose"], sent_at=now)
        )
        return _Send(row, recipient, template_of(row, batch))

    async def _job(
        self, session: AsyncSession, send: _Send, batch: Batch, now: datetime
    ) -> RenderJob:
        row = send.row
        tenant_id = row["tenant_id"]
        person = batch.people[(tenant_id, row["profile_id"])]
        version = row["template_version"] if row["inline_parts"] is None else None
        return RenderJob(
            template=send.template,
            profile_id=person[1],
            traits=batch.traits[person],
            extras=row["context"] or {},
            recommendations=await self._recommendations(session, batch, person, send.template),
            tracking=tracking_context(row, batch.configs[tenant_id], self.settings.public_url, now),
            track=Channel(row["channel"]) in TRACKED_CHANNELS,
            key=template_key(tenant_id, send.template, version),
        )

    async def _apply(
        self,
        session: AsyncSession,
        send: _Send,
        outcome: RenderedMessage | RenderFailure,
        batch: Batch,
        now: datetime,
        claims: list[tr.Claimed],
    ) -> Outgoing | None:
        row = send.row
        if isinstance(outcome, RenderFailure):
            # Permanent: the same template and data would fail the same way again.
            await tr.fail(session, row, now, outcome.reason, outcome.detail)
            return None
        config = batch.configs[row["tenant_id"]]
        adapter = self.adapters[Channel(row["channel"])]
        if not adapter.in_transaction:
            token = str(uuid.uuid4())
            attempts = row["attempts"] + 1
            claims.append(
                tr.Claimed(row["message_id"], token, attempts, adapter.provider, now, outcome)
            )
            return Outgoing(
                row, outcome.parts, send.recipient, config, outcome.unsubscribe_url, token
            )
        await self._send_local(session, send, outcome, adapter, config, now)
        return None

    async def _send_local(
        self,
        session: AsyncSession,
        send: _Send,
        rendered: RenderedMessage,
        adapter: ChannelAdapter,
        config: TenantConfig,
        now: datetime,
    ) -> None:
        """Postal DM and call list: the adapter writes its rows in this transaction."""
        row = send.row
        lease = timedelta(seconds=self.settings.lease_seconds)
        token = await tr.start_sending(session, row, now, rendered, adapter.provider, lease)
        out = Outgoing(row, rendered.parts, send.recipient, config, rendered.unsubscribe_url, token)
        result = await adapter.send(out, SendContext(now=now, session=session))
        if result.kind is OutcomeClass.SUCCESS:
            await tr.sent(session, row, token, now, result)
        else:
            await tr.give_up(session, row, token, now, f"permanent:{result.error}")

    async def _recommendations(
        self, session: AsyncSession, batch: Batch, person: Key, template: MessageTemplate
    ) -> list[dict[str, str]]:
        if not needs_recommendations(template):
            return []
        if person not in batch.recommendations:
            batch.recommendations[person] = await recommendations_for(
                session, person[0], person[1], batch.traits[person]
            )
        return batch.recommendations[person]
