"""Settings of the segment service (environment: SEGMENT_*, KAFKA_*, POSTGRES_*)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from crm_common.internal_auth import internal_key_field, key_variable
from crm_common.settings import BaseServiceSettings, ServiceSettings

SCHEMA = "segment"
PROFILES_GROUP = "segment-profiles"
TENANTS_GROUP = "segment-tenants"
SEGMENTS_TOPIC = "crm.segments.v1"


class SegmentService(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SEGMENT_", extra="ignore")

    name: str = "segment"
    port: int = 8003
    # Verifies the console's tokens for this service (crm_common.internal_auth).
    internal_key: SecretStr = internal_key_field("segment")
    # Time-dependent memberships change within one sweep of becoming true.
    sweep_seconds: float = Field(default=60.0, gt=0)
    sweep_batch: int = Field(default=500, ge=1)
    consumer_batch: int = Field(default=500, ge=1)
    # Outbox rows written per statement when a fill enters or exits many profiles.
    fill_event_batch: int = Field(default=5000, ge=1)

    def secrets(self) -> dict[str, SecretStr | None]:
        return {**super().secrets(), key_variable(self.name): self.internal_key}


class Settings(BaseServiceSettings):
    service: SegmentService = Field(default_factory=SegmentService)
