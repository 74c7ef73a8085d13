"""Where the operations view finds the services, the ingest admin API and Kafka.

Environment (prefix ``DASHBOARD_``): ``DASHBOARD_INGEST_URL`` ...
``DASHBOARD_DASHBOARD_URL`` (default ``http://127.0.0.1:<port>`` with the ports of
:data:`crm_common.settings.SERVICE_PORTS`), ``DASHBOARD_INGEST_ADMIN_TOKEN`` (or
``INGEST_ADMIN_TOKEN``), ``DASHBOARD_HTTP_TIMEOUT_SECONDS``,
``DASHBOARD_KAFKA_TIMEOUT_SECONDS``, ``DASHBOARD_RECENT_DEAD_LETTERS``,
``DASHBOARD_EXPORTER_INTERVAL_SECONDS``;
Kafka from ``KAFKA_*`` (the topic prefix names this run's topics and groups).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_common.settings import SERVICE_PORTS, KafkaSettings

# The order the console lists them in: the flow of an event.
SERVICES = ("ingest", "profile", "segment", "messaging", "dashboard")


def _local(name: str) -> str:
    return f"http://127.0.0.1:{SERVICE_PORTS[name]}"


class OpsSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DASHBOARD_", extra="ignore", populate_by_name=True
    )

    ingest_url: str = _local("ingest")
    profile_url: str = _local("profile")
    segment_url: str = _local("segment")
    messaging_url: str = _local("messaging")
    dashboard_url: str = _local("dashboard")
    # The same variables as the console's own settings (crm_dashboard.config).
    ingest_admin_token: SecretStr = Field(
        default=SecretStr("dev-admin-token"),
        validation_alias=AliasChoices(
            "ingest_admin_token", "DASHBOARD_INGEST_ADMIN_TOKEN", "INGEST_ADMIN_TOKEN"
        ),
    )
    http_timeout_seconds: float = Field(default=3.0, gt=0)
    kafka_timeout_seconds: float = Field(default=10.0, gt=0)
    recent_dead_letters: int = Field(default=20, ge=0, le=1000)
    exporter_interval_seconds: float = Field(default=15.0, gt=0)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    def url(self, service: str) -> str:
        """Base URL of one of :data:`SERVICES` (no trailing slash)."""
        return str(getattr(self, f"{service}_url")).rstrip("/")

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.ingest_admin_token.get_secret_value()}"}
