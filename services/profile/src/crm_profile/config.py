"""Settings of the profile service (environment: PROFILE_*, KAFKA_*, POSTGRES_*)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from crm_common.internal_auth import internal_key_field, key_variable
from crm_common.settings import BaseServiceSettings, ServiceSettings

SCHEMA = "profile"
EVENTS_TOPIC = "crm.events.v1"
PROFILES_TOPIC = "crm.profiles.v1"
TENANTS_TOPIC = "crm.tenants.v1"


class ProfileService(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROFILE_", extra="ignore")

    name: str = "profile"
    port: int = 8002
    # Verifies the console's tokens for this service (crm_common.internal_auth).
    internal_key: SecretStr = internal_key_field("profile")
    # Consumer group names; the Kafka topic prefix is prepended so that test runs
    # sharing a broker never join each other's groups.
    group: str = "profile"
    tenants_group: str = "profile-tenants"
    max_batch: int = Field(default=500, ge=1)
    consume: bool = True  # false: REST only (e.g. a read replica of the API)
    # Time-dependent traits (recency, churn risk, subscription status) are
    # recomputed for profiles whose traits are older than ``refresh_max_age_seconds``,
    # checked every ``refresh_seconds``, ``refresh_batch`` profiles per transaction.
    refresh: bool = True
    refresh_seconds: float = Field(default=3600, gt=0)
    refresh_max_age_seconds: float = Field(default=86400, gt=0)
    refresh_batch: int = Field(default=500, ge=1)

    def secrets(self) -> dict[str, SecretStr | None]:
        return {**super().secrets(), key_variable(self.name): self.internal_key}


class Settings(BaseServiceSettings):
    service: ProfileService = Field(default_factory=ProfileService)

    def group_id(self) -> str:
        return self.kafka.topic(self.service.group)

    def tenants_group_id(self) -> str:
        return self.kafka.topic(self.service.tenants_group)
