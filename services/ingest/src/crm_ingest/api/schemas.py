"""Request and response bodies of the admin API."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DOMAIN = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    shop_domains: list[str] = Field(default_factory=list, max_length=50)
    timezone: str = "Asia/Tokyo"
    currency: str = Field(default="JPY", pattern="^[A-Z]{3}$")
    webhook_secrets: list[str] = Field(default_factory=list, max_length=10)
    rate_limit_per_second: int | None = Field(default=None, ge=1, le=100_000)
    tenant_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")

    @field_validator("shop_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        cleaned = list(dict.fromkeys(d.strip().lower() for d in value))
        for domain in cleaned:
            if not re.match(_DOMAIN, domain):
                raise ValueError(f"not a shop domain: {domain!r}")
        return cleaned

    @field_validator("webhook_secrets")
    @classmethod
    def _secrets(cls, value: list[str]) -> list[str]:
        if any(not 8 <= len(s) <= 500 for s in value):
            raise ValueError("webhook secrets must have 8 to 500 characters")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class TenantCreated(BaseModel):
    tenant_id: str
    api_key: str = Field(description="Shown once; only its hash is stored")
    api_key_id: str
    version: int


class SecretCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str = Field(min_length=8, max_length=500)


class ShopDomainCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shop_domain: str = Field(min_length=3, max_length=253)

    @field_validator("shop_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        cleaned = value.strip().lower()
        if not re.match(_DOMAIN, cleaned):
            raise ValueError(f"not a shop domain: {value!r}")
        return cleaned


class SecretCreated(BaseModel):
    secret_id: str


class KeyCreated(BaseModel):
    key_id: str
    api_key: str = Field(description="Shown once; only its hash is stored")


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consumer: str | None = None
    since: datetime | None = None


class ReplayResult(BaseModel):
    replayed: int
