"""Read-side use cases: a profile as the API shows it, lookups, pages, export."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.errors import ApiError
from crm_common.inputs import off_calendar, unstorable
from crm_profile.domain import Attributes, OrderFact, Permissions
from crm_profile.repository import reads


class ProfileNotFoundError(ApiError):
    def __init__(self, profile_id: str) -> None:
        super().__init__(404, "not_found", f"no profile {profile_id!r}", [{"path": "id"}])


async def live_row(session: AsyncSession, tenant_id: str, profile_id: str) -> Any:
    """The profile row, following an alias to its survivor; 404 when unknown."""
    row = await reads.profile(session, tenant_id, profile_id)
    if row is not None and row.merged_into is not None:
        row = await reads.profile(session, tenant_id, row.merged_into)
    if row is None:
        raise ProfileNotFoundError(profile_id)
    return row


async def profile_view(session: AsyncSession, tenant_id: str, profile_id: str) -> dict[str, Any]:
    row = await live_row(session, tenant_id, profile_id)
    idents = await reads.identifiers_of(session, tenant_id, row.profile_id)
    view = {
        "profile_id": row.profile_id,
        "requested_id": profile_id,
        "resolved_from_alias": row.profile_id != profile_id,
        "aliases": await reads.aliases_of(session, tenant_id, row.profile_id),
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "deleted": row.deleted_at is not None,
        "deleted_at": row.deleted_at,
        "redacted_at": row.redacted_at,
        "identifiers": [{"kind": i.kind, "value": i.value} for i in idents],
    }
    return (
        view
        | permissions_view(row.permissions)
        | {
            "attributes": Attributes.model_validate(row.attributes).to_snapshot(),
            "traits": row.traits,
        }
    )


def permissions_view(raw: dict[str, Any]) -> dict[str, Any]:
    perms = Permissions.model_validate(raw)
    consents = {
        c.channel.value: {"state": c.state.value, "source": c.source, "at": c.stamp.at}
        for c in perms.consents
    }
    suppressions = [
        {
            "channel": s.channel.value if s.channel else None,
            "reason": s.reason.value,
            "first_at": s.first_at,
            "last_at": s.last_at,
            "lifted_at": s.lifted_at,
            "active": s.active,
        }
        for s in perms.suppressions
    ]
    return {"consents": consents, "suppressions": suppressions}


def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode()


def decode_cursor(cursor: str, parts: int) -> list[str]:
    try:
        values = base64.urlsafe_b64decode(cursor.encode()).decode().split("\x1f")
    except (ValueError, UnicodeDecodeError):
        values = []
    # A NUL would reach PostgreSQL, which stores no NUL in text.
    if len(values) != parts or any(unstorable(v) for v in values):
        raise ApiError(422, "invalid_request", "invalid cursor", [{"path": "query.cursor"}])
    return values


async def timeline_view(
    session: AsyncSession, tenant_id: str, profile_id: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    row = await live_row(session, tenant_id, profile_id)
    before = None
    if cursor:
        at, event_id = decode_cursor(cursor, 2)
        before = (_instant(at), event_id)
    rows = await reads.timeline_page(session, tenant_id, row.profile_id, before, limit + 1)
    items = [_entry(r) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = encode_cursor(last.occurred_at.isoformat(), last.event_id) if last else None
    return {"profile_id": row.profile_id, "items": items, "next_cursor": next_cursor}


def _instant(text: str) -> datetime:
    try:
        value: datetime | None = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or off_calendar(value):  # year 1 in Tokyo is year 0 in UTC
        raise ApiError(422, "invalid_request", "invalid cursor", [{"path": "query.cursor"}])
    return value


def _entry(r: Any) -> dict[str, Any]:
    return {
        "event_id": r.event_id,
        "type": r.type,
        "occurred_at": r.occurred_at,
        "source": r.source,
        "summary": r.summary,
    }


async def orders_view(session: AsyncSession, tenant_id: str, profile_id: str) -> dict[str, Any]:
    row = await live_row(session, tenant_id, profile_id)
    rows = await reads.orders_of(session, tenant_id, row.profile_id)
    return {"profile_id": row.profile_id, "items": [_order(r.fact) for r in rows]}


def _order(fact: dict[str, Any]) -> dict[str, Any]:
    parsed = OrderFact.model_validate(fact)
    return fact | {
        "cancelled": parsed.is_cancelled,
        "refunded_amount": format(parsed.refunded_amount, "f"),
        "net_total": format(parsed.net_total, "f"),
    }


async def export_view(session: AsyncSession, tenant_id: str, profile_id: str) -> dict[str, Any]:
    """Everything held about the person: record, raw attributes, facts, timeline."""
    view = await profile_view(session, tenant_id, profile_id)
    pid = view["profile_id"]
    row = await live_row(session, tenant_id, pid)
    facts = await reads.facts_of(session, tenant_id, pid)
    timeline = await reads.timeline_page(session, tenant_id, pid, None, None)
    return view | {
        "stored_attributes": row.attributes,
        "stored_permissions": row.permissions,
        "orders": (await orders_view(session, tenant_id, pid))["items"],
        "engagement": facts["engagement"],
        "subscriptions": facts["subscriptions"],
        "timeline": [_entry(r) for r in timeline],
    }
