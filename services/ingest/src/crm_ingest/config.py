"""Settings of the ingest service (environment: INGEST_*, KAFKA_*, POSTGRES_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crm_common.settings import BaseServiceSettings, ServiceSettings

SCHEMA = "ingest"


class IngestService(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    name: str = "ingest"
    port: int = 8001


class Settings(BaseServiceSettings):
    service: IngestService = Field(default_factory=IngestService)
