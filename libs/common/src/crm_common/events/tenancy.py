"""Tenant configuration, published by ingest (the owner) on ``crm.tenants.v1``.

The topic is compacted and keyed by tenant id: any service reading it from the
beginning learns every tenant's current settings and API key hashes (never the
keys themselves, never the webhook secrets, which stay in ingest).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from crm_common.events._base import EnvelopeBase, Frozen


class TenantConfig(Frozen):
    tenant_id: str
    name: str
    timezone: str = "Asia/Tokyo"
    currency: str = Field(default="JPY", pattern="^[A-Z]{3}$")
    shop_domains: list[str] = Field(default_factory=list)
    api_key_hashes: list[str] = Field(default_factory=list)
    status: Literal["active", "uninstalled", "redacted"] = "active"
    version: int = Field(ge=1)


class TenantConfigured(EnvelopeBase):
    type: Literal["tenant.configured"] = "tenant.configured"
    data: TenantConfig

    def partition_key(self) -> str:
        return self.tenant_id
