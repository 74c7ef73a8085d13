"""Settings of the ingest service (environment: INGEST_*, KAFKA_*, POSTGRES_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from crm_common.internal_auth import internal_key_field, key_variable
from crm_common.settings import BaseServiceSettings, ServiceSettings

SCHEMA = "ingest"
RAW_TOPIC = "crm.raw.v1"
EVENTS_TOPIC = "crm.events.v1"
TENANTS_TOPIC = "crm.tenants.v1"
DLQ_TOPIC = "crm.dlq.v1"
NORMALIZER_GROUP = "ingest-normalizer"


class IngestService(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    name: str = "ingest"
    port: int = 8001
    # Verifies the console's tokens for this service (crm_common.internal_auth).
    internal_key: SecretStr = internal_key_field("ingest")
    admin_token: SecretStr = SecretStr("dev-admin-token")
    # Seals webhook secrets at rest: keys comma-separated, newest first (crm_ingest.sealing).
    secrets_key: SecretStr = SecretStr("dev-ingest-secrets-key")
    # 3 MiB: a body wrapped in its raw record (JSON-escaped, worst case twice its
    # size) still fits one Kafka record (KAFKA_MAX_MESSAGE_BYTES, 8 MiB); Shopify's
    # largest real orders (B2B, hundreds of lines) are about 2 MB.
    max_webhook_bytes: int = Field(default=3 * 1024 * 1024, ge=1024)
    max_request_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_import_bytes: int = Field(default=4 * 1024 * 1024 * 1024, ge=1024)
    # Each route bounds its own body (the three limits above); no service-wide cap.
    max_body_bytes: int | None = None
    # The shop cache (crm_ingest.shopcache): entries live until crm.tenants.v1 says
    # their tenant changed, read again after tenant_cache_max_seconds at the latest,
    # and after tenant_cache_seconds while the topic is not being followed.
    tenant_cache_seconds: float = Field(default=5.0, ge=0)
    tenant_cache_max_seconds: float = Field(default=60.0, ge=0)
    rate_limit_per_second: int = Field(default=100, ge=1)
    import_spool_dir: Path = Path("/tmp/crm-ingest-spool")
    import_batch_rows: int = Field(default=1000, ge=1)
    import_stale_seconds: float = Field(default=60.0, gt=0)
    # How long a fact's id is kept in accepted_events (one fact, one event): longer
    # than the widest span over which one fact is told again. Shopify retries for up
    # to 48 h and the raw topic keeps 7 days, but merchants re-upload overlapping
    # order-history exports (a year's orders) months apart: 400 days covers those.
    accepted_retention_days: int = Field(default=400, ge=30)

    def secrets(self) -> dict[str, SecretStr | None]:
        return {
            **super().secrets(),
            key_variable(self.name): self.internal_key,
            "INGEST_ADMIN_TOKEN": self.admin_token,
            "INGEST_SECRETS_KEY": self.secrets_key,
        }


class Settings(BaseServiceSettings):
    service: IngestService = Field(default_factory=IngestService)
