"""Settings of the segment service (environment: SEGMENT_*, KAFKA_*, POSTGRES_*)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from crm_common.internal_auth import internal_key_field, key_variable
from crm_common.settings import BaseServiceSettings, ServiceSettings
from crm_segment.domain.limits import DefinitionLimits

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
    # Due profiles evaluated per sweep transaction.
    sweep_batch: int = Field(default=5000, ge=1)
    consumer_batch: int = Field(default=1000, ge=1)
    # Profiles per chunk of a fill job (one transaction each; handlers/jobs.py), and
    # how many chunks a job fills at once (one database connection each).
    fill_chunk_profiles: int = Field(default=50_000, ge=1)
    fill_parallel: int = Field(default=2, ge=1, le=16)
    # Sweep workers taking due profiles at once (SKIP LOCKED keeps them apart).
    sweep_parallel: int = Field(default=2, ge=1, le=16)

    # What one definition may cost (domain/limits.py). The upper bounds keep the
    # SQL of the largest allowed definition far below asyncpg's 32,767 binds.
    max_definition_leaves: int = Field(default=100, ge=1, le=1000)
    max_definition_depth: int = Field(default=10, ge=1, le=32)
    max_list_values: int = Field(default=1000, ge=1, le=10_000)
    max_definition_values: int = Field(default=5000, ge=1, le=100_000)
    max_event_conditions: int = Field(default=20, ge=0, le=1000)
    max_duration_days: int = Field(default=3660, ge=1, le=36_600)
    max_reference_depth: int = Field(default=5, ge=1, le=50)
    # Every new profile is evaluated against all of its tenant's live segments.
    max_live_segments: int = Field(default=500, ge=1, le=100_000)
    # Statement timeouts (SET LOCAL statement_timeout) of previews, counts and
    # verification, and of fills (creating, editing, installing, freezing).
    query_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    fill_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)

    def limits(self) -> DefinitionLimits:
        return DefinitionLimits(
            max_definition_leaves=self.max_definition_leaves,
            max_definition_depth=self.max_definition_depth,
            max_list_values=self.max_list_values,
            max_definition_values=self.max_definition_values,
            max_event_conditions=self.max_event_conditions,
            max_duration_days=self.max_duration_days,
            max_reference_depth=self.max_reference_depth,
            max_live_segments=self.max_live_segments,
        )

    def secrets(self) -> dict[str, SecretStr | None]:
        return {**super().secrets(), key_variable(self.name): self.internal_key}


class Settings(BaseServiceSettings):
    service: SegmentService = Field(default_factory=SegmentService)
