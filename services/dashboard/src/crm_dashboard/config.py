"""Settings of the dashboard service (environment: DASHBOARD_*, KAFKA_*, POSTGRES_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crm_common.settings import BaseServiceSettings, ServiceSettings

SCHEMA = "dashboard"


class DashboardService(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DASHBOARD_", extra="ignore")

    name: str = "dashboard"
    port: int = 8000


class Settings(BaseServiceSettings):
    service: DashboardService = Field(default_factory=DashboardService)
