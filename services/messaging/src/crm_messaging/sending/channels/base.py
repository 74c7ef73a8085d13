"""The one interface every channel implements, and what it is given and returns.

Remote adapters (email, sms, line) talk to a provider outside any database
transaction: the dispatcher has already committed ``sending``. Local adapters
(postal_dm, call) only write rows, so they run inside the dispatcher's
transaction (``ctx.session``) and can never be half done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.customers import Channel
from crm_messaging.domain.backoff import OutcomeClass, ProviderOutcome
from crm_messaging.domain.guardrails import RecipientState
from crm_messaging.repository.tenants import TenantConfig


@dataclass(frozen=True)
class Outgoing:
    message: Mapping[Any, Any]  # the messages row (ids, channel, purpose, source ...)
    parts: dict[str, str]  # rendered, with tracking links
    recipient: RecipientState
    config: TenantConfig
    unsubscribe_url: str
    attempt_token: str

    @property
    def message_id(self) -> str:
        return str(self.message["message_id"])


async def _nothing() -> None:
    return None


@dataclass
class SendContext:
    now: datetime
    session: AsyncSession | None = None  # local adapters only
    # Email: called (and committed) right before SMTP DATA, see sending.recovery.
    before_data: Callable[[], Awaitable[None]] = field(default=_nothing)


@dataclass(frozen=True)
class SendResult:
    kind: OutcomeClass
    outcome: ProviderOutcome = field(default_factory=ProviderOutcome)
    provider_message_id: str | None = None
    error: str | None = None  # short code for the message row and metrics: http_503, timeout
    state: str = "sent"  # postal DM stays "sending" until its batch is exported

    @classmethod
    def ok(cls, provider_message_id: str | None = None, state: str = "sent") -> SendResult:
        return cls(OutcomeClass.SUCCESS, provider_message_id=provider_message_id, state=state)


class ChannelAdapter(Protocol):
    channel: Channel
    provider: str
    in_transaction: bool

    async def send(self, out: Outgoing, ctx: SendContext) -> SendResult: ...
