"""Where the operations view finds the services, ingest's dead letters and Kafka.

Environment (prefix ``DASHBOARD_``): ``DASHBOARD_INGEST_URL`` ...
``DASHBOARD_DASHBOARD_URL`` (default ``http://127.0.0.1:<port>`` with the ports of
:data:`crm_common.settings.SERVICE_PORTS`), ``DASHBOARD_HTTP_TIMEOUT_SECONDS``,
``DASHBOARD_KAFKA_TIMEOUT_SECONDS``, ``DASHBOARD_RECENT_DEAD_LETTERS``,
``DASHBOARD_EXPORTER_INTERVAL_SECONDS``, ``DASHBOARD_BEHIND_RECORDS``;
``CRM_INTERNAL_KEY_INGEST`` signs the tokens for ingest's dead-letter routes (no admin
token: a tenant's token lists its own letters), ``CRM_METRICS_TOKEN`` reads /metrics;
Kafka from ``KAFKA_*`` (the topic prefix names this run's topics and groups).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_common.internal_auth import dev_key, key_variable, mint
from crm_common.settings import SERVICE_PORTS, KafkaSettings
from crm_dashboard.ops.scope import OpsScope

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
    ingest_key: SecretStr = Field(
        default=SecretStr(dev_key("ingest")),
        validation_alias=AliasChoices("ingest_key", key_variable("ingest")),
    )
    metrics_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("metrics_token", "CRM_METRICS_TOKEN")
    )
    # A tenant sees a consumer group as "behind" from this many records of lag on.
    behind_records: int = Field(default=1000, ge=1)
    http_timeout_seconds: float = Field(default=3.0, gt=0)
    kafka_timeout_seconds: float = Field(default=10.0, gt=0)
    recent_dead_letters: int = Field(default=20, ge=0, le=1000)
    exporter_interval_seconds: float = Field(default=15.0, gt=0)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    def url(self, service: str) -> str:
        """Base URL of one of :data:`SERVICES` (no trailing slash)."""
        return str(getattr(self, f"{service}_url")).rstrip("/")

    def dlq_headers(self, scope: OpsScope) -> dict[str, str]:
        """A fresh token for one call to ingest's dead-letter routes for ``scope``."""
        token = mint(
            self.ingest_key,
            audience="ingest",
            tenant_id=scope.tenant_id,
            role=scope.role,
            operator=scope.installation,
            subject=scope.subject,
        )
        return {"Authorization": f"Bearer {token}"}

    def metrics_headers(self) -> dict[str, str]:
        if self.metrics_token is None:
            return {}
        return {"Authorization": f"Bearer {self.metrics_token.get_secret_value()}"}
