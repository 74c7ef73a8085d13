"""Customers, consent and privacy requests."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from crm_common.events._base import EnvelopeBase, Frozen, UtcDatetime


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    LINE = "line"
    POSTAL_DM = "postal_dm"
    CALL = "call"


class ConsentState(StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    NEVER = "never"


class Address(Frozen):
    postal_code: str | None = None  # 郵便番号, e.g. 100-0001
    prefecture: str | None = None  # 都道府県
    city: str | None = None
    address1: str | None = None
    address2: str | None = None
    country_code: str | None = None


class Consent(Frozen):
    channel: Channel
    state: ConsentState
    source: str | None = None
    collected_at: UtcDatetime | None = None


class CustomerData(Frozen):
    """A customer record as a platform describes it. Absent fields mean "not told"."""

    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    first_name_kana: str | None = None
    last_name_kana: str | None = None
    birthday: date | None = None
    gender: str | None = None
    address: Address | None = None
    tags: list[str] | None = None
    consents: list[Consent] = Field(default_factory=list)
    properties: dict[str, Any] = Field(default_factory=dict)
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None


class CustomerUpserted(EnvelopeBase):
    type: Literal["customer.upserted"] = "customer.upserted"
    data: CustomerData


class CustomerDeletedData(Frozen):
    customer_id: str


class CustomerDeleted(EnvelopeBase):
    type: Literal["customer.deleted"] = "customer.deleted"
    data: CustomerDeletedData


class ConsentChanged(EnvelopeBase):
    type: Literal["consent.changed"] = "consent.changed"
    data: Consent


class PrivacyRequestData(Frozen):
    request_id: str
    customer_id: str | None = None
    orders: list[str] = Field(default_factory=list)


class PrivacyRedactRequested(EnvelopeBase):
    type: Literal["privacy.redact_requested"] = "privacy.redact_requested"
    data: PrivacyRequestData


class PrivacyExportRequested(EnvelopeBase):
    type: Literal["privacy.export_requested"] = "privacy.export_requested"
    data: PrivacyRequestData


class TenantLifecycleData(Frozen):
    shop_domain: str
    reason: str


class TenantRedactRequested(EnvelopeBase):
    """Shopify ``shop/redact``: 48 hours after uninstall, erase the shop's data."""

    type: Literal["tenant.redact_requested"] = "tenant.redact_requested"
    data: TenantLifecycleData


class TenantUninstalled(EnvelopeBase):
    type: Literal["tenant.uninstalled"] = "tenant.uninstalled"
    data: TenantLifecycleData
