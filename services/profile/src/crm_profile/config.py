"""Settings of the profile service (environment: PROFILE_*, KAFKA_*, POSTGRES_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crm_common.settings import BaseServiceSettings, ServiceSettings

SCHEMA = "profile"


class ProfileService(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROFILE_", extra="ignore")

    name: str = "profile"
    port: int = 8002


class Settings(BaseServiceSettings):
    service: ProfileService = Field(default_factory=ProfileService)
