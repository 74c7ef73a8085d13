"""Settings pieces shared by every service (pydantic-settings).

Each service composes one ``Settings`` class from these pieces; every field can
be overridden by environment variables (``KAFKA_BOOTSTRAP_SERVERS``,
``POSTGRES_PORT``, ``PROFILE_PORT`` ...).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

TOPICS = (
    "crm.raw.v1",
    "crm.events.v1",
    "crm.profiles.v1",
    "crm.segments.v1",
    "crm.tenants.v1",
    "crm.dlq.v1",
)
COMPACTED_TOPICS = frozenset({"crm.tenants.v1"})
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
BATCH_HEADROOM_BYTES = 1024 * 1024  # a producer batch (max_batch_size) beside one record

SERVICE_PORTS = {
    "dashboard": 8000,
    "ingest": 8001,
    "profile": 8002,
    "segment": 8003,
    "messaging": 8004,
}


class KafkaSettings(BaseSettings):
    """Where the broker is and how topics are named.

    ``topic_prefix`` isolates test runs that share one broker: ``t1a2b.`` turns
    ``crm.events.v1`` into ``t1a2b.crm.events.v1``.
    """

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    client_id: str = "crm"
    # The largest record (before compression) a producer sends; every topic is
    # created to accept it (plus a batch's worth of headroom, see topic_max_bytes)
    # and consumers fetch that much per partition. Ingest's door limits sit below
    # it (crm_ingest.domain.limits), so nothing accepted can fail to publish.
    max_message_bytes: int = Field(default=MAX_MESSAGE_BYTES, ge=1024 * 1024)
    compression: Literal["zstd", "gzip", "lz4", "snappy"] | None = "zstd"

    @property
    def topic_max_bytes(self) -> int:
        """``max.message.bytes`` of every topic: one full record plus a batch."""
        return self.max_message_bytes + BATCH_HEADROOM_BYTES

    def topic(self, name: str) -> str:
        """The physical topic name for a logical one (``crm.events.v1``)."""
        return f"{self.topic_prefix}{name}"


class PostgresSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSTGRES_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: SecretStr = SecretStr("")
    database: str = "crm"
    pool_size: int = Field(default=10, ge=1)

    def url(self, driver: str = "postgresql+asyncpg", database: str | None = None) -> str:
        """A SQLAlchemy URL (``driver="postgresql"`` gives a libpq/asyncpg DSN)."""
        secret = self.password.get_secret_value()
        auth = f"{self.user}:{secret}@" if secret else f"{self.user}@"
        return f"{driver}://{auth}{self.host}:{self.port}/{database or self.database}"


class ServiceSettings(BaseSettings):
    """Identity and HTTP binding of one service process."""

    model_config = SettingsConfigDict(extra="ignore")

    name: str
    host: str = "127.0.0.1"
    port: int
    # "api": HTTP only (no consumers, relays or housekeeping), so answer times do not
    # queue behind batch work; "worker": consumers and relays, HTTP for probes only;
    # "all": both in one process (tests, small installs).
    role: Literal["all", "api", "worker"] = "all"
    # uvicorn worker processes sharing the port (``<SERVICE>_WORKERS``): each runs
    # the whole lifespan, so >1 is meant for role "api" (an HTTP front: a producer and
    # a database pool per process, nothing else); in "all" or "worker" each process is
    # a full replica (consumers split the partitions, relays elect one publisher).
    workers: int = Field(default=1, ge=1, le=32)
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    dedup_retention_days: int = Field(default=14, ge=1)
    # Largest request body any route of the service takes (crm_common.bodylimits);
    # None: the service bounds each route itself (ingest: webhooks, batches, imports).
    max_body_bytes: int | None = Field(default=2 * 1024 * 1024, ge=1024)
    # Bearer token Prometheus (and the console's operations view) presents to read
    # /metrics; unset (dev mode only: a service refuses to start without it otherwise)
    # leaves /metrics open.
    metrics_token: SecretStr | None = Field(default=None, validation_alias="CRM_METRICS_TOKEN")

    def secrets(self) -> dict[str, SecretStr | None]:
        """The secrets this process holds, by environment variable (checked at start
        outside dev mode, see :mod:`crm_common.secrets`). Services add the key that
        verifies internal tokens for them (:mod:`crm_common.internal_auth`)."""
        return {"CRM_METRICS_TOKEN": self.metrics_token}


class BaseServiceSettings(BaseSettings):
    """What every service has: its identity, Kafka and Postgres."""

    model_config = SettingsConfigDict(extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
