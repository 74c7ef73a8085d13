"""API writes, recorded as canonical events.

``PATCH`` becomes a ``customer.upserted`` (consents included) and ``DELETE``
a ``privacy.redact_requested``, both with source ``api`` and the identity
``crm:<profile id>``. The event is applied in the request's transaction
through exactly the code the consumer runs, its id is recorded as processed
for the consumer group, and it is written to the outbox for ``crm.events.v1``
so other services learn of it; when it comes back, the consumer's dedup skips
it. A retried request with the same ``Idempotency-Key`` yields the same event
id and changes nothing twice.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.errors import ApiError
from crm_common.events import CustomerUpserted, PrivacyRedactRequested, stable_event_id
from crm_common.events.customers import (
    Address,
    Channel,
    Consent,
    ConsentState,
    CustomerData,
    PrivacyRequestData,
)
from crm_common.normalize import normalize_email, normalize_phone
from crm_common.outbox import enqueue
from crm_profile.config import EVENTS_TOPIC, SCHEMA
from crm_profile.handlers.identity import direct_identity
from crm_profile.handlers.process import apply_events
from crm_profile.handlers.views import live_row
from crm_profile.repository import reads


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddressIn(_In):
    postal_code: str | None = None
    prefecture: str | None = None
    city: str | None = None
    address1: str | None = None
    address2: str | None = None
    country_code: str | None = None


class ConsentIn(_In):
    channel: Channel
    state: ConsentState


class ProfilePatch(_In):
    """Attributes to set (absent fields are left alone) and consent statements."""

    first_name: str | None = None
    last_name: str | None = None
    first_name_kana: str | None = None
    last_name_kana: str | None = None
    email: str | None = None
    phone: str | None = None
    birthday: date | None = None
    gender: str | None = None
    address: AddressIn | None = None
    tags: list[str] | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    consents: list[ConsentIn] = Field(default_factory=list)


def _check(patch: ProfilePatch) -> None:
    bad = []
    if patch.email is not None and normalize_email(patch.email) is None:
        bad.append({"path": "body.email", "message": "not a valid email address"})
    if patch.phone is not None and normalize_phone(patch.phone) is None:
        bad.append({"path": "body.phone", "message": "not a possible phone number"})
    if bad:
        raise ApiError(422, "invalid_request", f"{bad[0]['path']}: {bad[0]['message']}", bad)


def _event_id(kind: str, tenant_id: str, profile_id: str, key: str | None) -> str:
    if key:
        return stable_event_id("api", kind, tenant_id, profile_id, key)
    return str(uuid.uuid4())


async def patch_profile(
    session: AsyncSession,
    tenant_id: str,
    profile_id: str,
    patch: ProfilePatch,
    *,
    group_id: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> str:
    """Apply and publish a PATCH; returns the live profile id."""
    _check(patch)
    pid: str = (await live_row(session, tenant_id, profile_id)).profile_id
    fields = patch.model_dump(exclude={"consents", "address"}, exclude_none=True)
    consents = [
        Consent(channel=c.channel, state=c.state, source="api", collected_at=now)
        for c in patch.consents
    ]
    address = Address(**patch.address.model_dump()) if patch.address else None
    event = CustomerUpserted(
        event_id=_event_id("customer.upserted", tenant_id, pid, idempotency_key),
        tenant_id=tenant_id,
        source="api",
        occurred_at=now,
        received_at=now,
        identity=direct_identity(pid),
        data=CustomerData(**fields, address=address, consents=consents, updated_at=now),
    )
    await _record(session, event, group_id, now)
    return pid


async def redact_profile(
    session: AsyncSession,
    tenant_id: str,
    profile_id: str,
    *,
    group_id: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> str:
    """Erase the person's personal data (and publish the request); returns the live id."""
    pid: str = (await live_row(session, tenant_id, profile_id)).profile_id
    event_id = _event_id("privacy.redact_requested", tenant_id, pid, idempotency_key)
    event = PrivacyRedactRequested(
        event_id=event_id,
        tenant_id=tenant_id,
        source="api",
        occurred_at=now,
        received_at=now,
        identity=direct_identity(pid),
        data=PrivacyRequestData(request_id=event_id),
    )
    await _record(session, event, group_id, now)
    return pid


async def _record(session: AsyncSession, event: Any, group_id: str, now: datetime) -> None:
    if not await reads.claim_event_id(session, group_id, event.event_id):
        return  # the same request was already applied
    await apply_events(session, event.tenant_id, [event], now)
    await enqueue(session, SCHEMA, EVENTS_TOPIC, [event])
