"""Opens, clicks and unsubscribes from signed tracking tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.domain.errors import TokenInvalid
from crm_messaging.domain.tracking import (
    TokenKind,
    TrackingClaims,
    peek_tenant,
    resolve_click,
    verify_token,
)
from crm_messaging.handlers.events import consent_withdrawn, message_event, publish
from crm_messaging.repository import recipients as recipients_repo
from crm_messaging.repository.tenants import tracking_keys
from crm_messaging.sending import repository as repo


async def _keys(session: AsyncSession, token: str) -> tuple[bytes, ...]:
    return await tracking_keys(session, peek_tenant(token))


async def _message(session: AsyncSession, claims: TrackingClaims) -> RowMapping:
    row = await repo.get_message(session, claims.message_id, claims.tenant_id)
    if row is None:
        raise TokenInvalid("no such message")
    return row


async def verified(
    session: AsyncSession, token: str, kind: TokenKind, now: datetime
) -> tuple[TrackingClaims, RowMapping]:
    """The claims and message of a genuine token (TokenInvalid / TokenExpired otherwise)."""
    claims = verify_token(token, await _keys(session, token), now, kind)
    return claims, await _message(session, claims)


def _second(now: datetime) -> str:
    # Repeated fetches within one second (image proxies, double clicks) are one event.
    return now.replace(microsecond=0).isoformat()


async def record_open(session: AsyncSession, token: str, now: datetime) -> None:
    _, message = await verified(session, token, "open", now)
    await publish(session, [message_event("opened", message, now, discriminators=[_second(now)])])


async def record_click(session: AsyncSession, token: str, now: datetime) -> str:
    """The URL to redirect to; LinkNotAllowed unless the message itself contained it."""
    keys = await _keys(session, token)
    claims = verify_token(token, keys, now, "click")
    message = await _message(session, claims)
    _, url = resolve_click(token, keys, now, list(message["links"] or []))
    event = message_event(
        "clicked", message, now, discriminators=[str(claims.link_index), _second(now)], url=url
    )
    await publish(session, [event])
    return url


async def check_unsubscribe(session: AsyncSession, token: str, now: datetime) -> RowMapping:
    return (await verified(session, token, "unsubscribe", now))[1]


async def unsubscribe(session: AsyncSession, token: str, now: datetime) -> RowMapping:
    """Withdraw consent for the message's channel; a repeated request changes nothing."""
    _, message = await verified(session, token, "unsubscribe", now)
    if not await repo.mark_unsubscribed(session, message["message_id"], now):
        return message
    await publish(
        session,
        [message_event("unsubscribed", message, now), consent_withdrawn(message, now)],
    )
    await recipients_repo.set_consent(
        session, message["tenant_id"], message["profile_id"], message["channel"], "unsubscribed"
    )
    return message
