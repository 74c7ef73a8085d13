"""Settings of the messaging service (environment: MESSAGING_*, KAFKA_*, POSTGRES_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crm_common.settings import BaseServiceSettings, ServiceSettings

SCHEMA = "messaging"


class MessagingService(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MESSAGING_", extra="ignore")

    name: str = "messaging"
    port: int = 8004


class Settings(BaseServiceSettings):
    service: MessagingService = Field(default_factory=MessagingService)
