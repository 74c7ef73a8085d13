"""Settings of the messaging service (environment: MESSAGING_*, KAFKA_*, POSTGRES_*)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from crm_common.internal_auth import internal_key_field, key_variable
from crm_common.settings import BaseServiceSettings, ServiceSettings

SCHEMA = "messaging"
EVENTS_TOPIC = "crm.events.v1"
PROFILES_TOPIC = "crm.profiles.v1"
TENANTS_TOPIC = "crm.tenants.v1"
SEGMENTS_TOPIC = "crm.segments.v1"


def _default_rate_limits() -> dict[str, float]:
    return {"smtp": 200.0, "sms": 30.0, "line": 100.0}


class MessagingService(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MESSAGING_", extra="ignore")

    name: str = "messaging"
    port: int = 8004
    # Verifies the console's tokens for this service (crm_common.internal_auth).
    internal_key: SecretStr = internal_key_field("messaging")
    # Where recipients reach tracking links and providers reach callbacks.
    public_url: str = "http://127.0.0.1:8004"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_start_tls: bool = False
    smtp_timeout: float = 30.0
    # Kept open and reused; sends are bound by round trips, not CPU (bench: 16 -> 32
    # connections doubled the rate). Most MTAs accept 50 per client.
    smtp_connections: int = 32
    sms_api_url: str = "https://api.twilio.com"
    line_api_url: str = "https://api.line.me"
    # Hosts a tenant's own provider base_url may name (https only): see
    # crm_messaging.domain.provider_urls. Set by the operator, never by a tenant.
    provider_hosts: tuple[str, ...] = ("api.twilio.com", "api.line.me")
    http_timeout: float = 10.0
    default_from_address: str = "no-reply@example.com"
    dispatcher_enabled: bool = True
    dispatch_batch: int = Field(default=200, ge=1)
    dispatch_concurrency: int = Field(default=64, ge=1)
    dispatch_idle_seconds: float = 0.2
    lease_seconds: float = 120.0
    retry_base_seconds: float = 30.0
    retry_cap_seconds: float = 3600.0
    retry_max_attempts: int = Field(default=5, ge=1)
    # Sends per second per provider, per process (a token bucket in each replica).
    rate_limits: dict[str, float] = Field(default_factory=_default_rate_limits)
    # Test/staging only: a file holding an ISO instant; time runs on from it.
    fake_clock_file: str | None = None
    tracking_ttl_days: int = 90
    # Template budgets (crm_messaging.sending.render_pool): every render runs in a
    # worker process, killed past the time budget; output stops at the byte budget.
    render_workers: int = Field(default=2, ge=1)  # the dispatcher's pool
    preview_render_workers: int = Field(default=1, ge=1)  # previews and saves
    render_timeout_seconds: float = Field(default=1.0, gt=0)  # per message, all parts
    render_max_bytes: int = Field(default=1024 * 1024, ge=1024)  # per message, UTF-8
    render_memory_mb: int = Field(default=512, ge=0)  # per worker address space; 0: none
    render_quarantine_seconds: float = Field(default=600.0, ge=0)
    template_max_source_bytes: int = Field(default=256 * 1024, ge=1024)  # all parts
    campaign_batch: int = Field(default=200, ge=1)  # recipients enqueued per worker round
    campaign_tick_seconds: float = Field(default=0.5, gt=0)  # idle poll, throttle granularity
    # The journey worker loop; None: run it when the dispatcher runs (tests drive both).
    journey_worker_enabled: bool | None = None

    def secrets(self) -> dict[str, SecretStr | None]:
        return {**super().secrets(), key_variable(self.name): self.internal_key}


class Settings(BaseServiceSettings):
    service: MessagingService = Field(default_factory=MessagingService)
