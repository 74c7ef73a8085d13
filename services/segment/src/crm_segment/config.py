"""Settings of the segment service (environment: SEGMENT_*, KAFKA_*, POSTGRES_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crm_common.settings import BaseServiceSettings, ServiceSettings

SCHEMA = "segment"


class SegmentService(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SEGMENT_", extra="ignore")

    name: str = "segment"
    port: int = 8003


class Settings(BaseServiceSettings):
    service: SegmentService = Field(default_factory=SegmentService)
