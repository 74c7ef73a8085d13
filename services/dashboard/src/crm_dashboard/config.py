"""Settings of the dashboard service (environment: DASHBOARD_*, KAFKA_*, POSTGRES_*)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from crm_common.internal_auth import AUDIENCES, internal_key_field, key_variable
from crm_common.settings import SERVICE_PORTS, BaseServiceSettings, ServiceSettings

SCHEMA = "dashboard"
TENANTS_TOPIC = "crm.tenants.v1"


def _local(name: str) -> str:
    return f"http://127.0.0.1:{SERVICE_PORTS[name]}"


class DashboardService(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DASHBOARD_", extra="ignore")

    name: str = "dashboard"
    port: int = 8000
    tenants_group: str = "dashboard-tenants"
    # Base URLs of the services the console calls (DASHBOARD_INGEST_URL ...).
    ingest_url: str = _local("ingest")
    profile_url: str = _local("profile")
    segment_url: str = _local("segment")
    messaging_url: str = _local("messaging")
    # The keys that sign the console's per-request tokens, one per service it calls
    # (CRM_INTERNAL_KEY_INGEST ...); each service holds only its own.
    internal_key_ingest: SecretStr = internal_key_field("ingest")
    internal_key_profile: SecretStr = internal_key_field("profile")
    internal_key_segment: SecretStr = internal_key_field("segment")
    internal_key_messaging: SecretStr = internal_key_field("messaging")
    # Where cart platforms reach ingest (your TLS proxy in front of it), shown on the
    # "connect your shop" page; None: ingest_url.
    public_ingest_url: str | None = None
    api_timeout_seconds: float = Field(default=10.0, gt=0)
    # Signs the session cookie; set a long random value in production.
    session_secret: SecretStr = SecretStr("dev-dashboard-session-secret")
    session_max_age_seconds: int = Field(default=8 * 3600, ge=60)
    # Secure cookies need https; false only for plain-http localhost.
    cookie_secure: bool = True
    # Measure lag, dead letters and readiness for /metrics (crm_dashboard.ops.exporter).
    ops_exporter: bool = True
    # Dev convenience: an admin created at start when absent (all three must be set).
    bootstrap_email: str | None = None
    bootstrap_password: SecretStr | None = None
    bootstrap_tenant: str | None = None

    def internal_key(self, audience: str) -> SecretStr:
        """The key that signs tokens for ``audience`` (one of :data:`AUDIENCES`)."""
        key: SecretStr = getattr(self, f"internal_key_{audience}")
        return key

    def secrets(self) -> dict[str, SecretStr | None]:
        keys = {key_variable(a): self.internal_key(a) for a in AUDIENCES}
        return {
            **super().secrets(),
            **keys,
            "DASHBOARD_SESSION_SECRET": self.session_secret,
        }


class Settings(BaseServiceSettings):
    service: DashboardService = Field(default_factory=DashboardService)

    def tenants_group_id(self) -> str:
        return self.kafka.topic(self.service.tenants_group)
