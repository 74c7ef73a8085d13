"""What the operations view shows: frozen pydantic models, JSON via ``model_dump(mode="json")``.

Nothing here is ever an exception for the caller: a part that could not be
measured carries ``None`` values and an ``error`` string instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

ServiceStatus = Literal["up", "unready", "down"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ServiceHealth(_Frozen):
    """``up``: /healthz and /readyz answer 200; ``unready``: alive, but Kafka or
    PostgreSQL does not answer it (``checks`` says which); ``down``: no answer."""

    name: str
    url: str
    status: ServiceStatus
    latency_ms: float | None  # /healthz round trip
    checks: dict[str, str]  # /readyz: {"postgres": "ok", "kafka": "error: ..."}
    error: str | None = None


class StageRate(_Frozen):
    """One stage of the flow: a counter of ``service`` and its per-second rate since
    the previous sample (``per_second`` is None on the first sample or when down)."""

    stage: str  # webhooks_accepted | events_normalized | events_applied | ...
    label: str
    service: str
    total: float | None
    per_second: float | None


class PartitionLag(_Frozen):
    partition: int
    committed: int | None  # None: the group never committed on this partition
    end: int
    lag: int


class ConsumerLag(_Frozen):
    """Records of ``topic`` not yet processed by consumer group ``group``."""

    group: str  # the group id as Kafka knows it
    name: str  # the group id without the run's topic prefix
    topic: str  # logical name (crm.raw.v1)
    lag: int
    partitions: list[PartitionLag]


class PipelineState(_Frozen):
    """What a tenant sees of a consumer group: whether it keeps up, not by how much
    (lag counts every tenant's records, see :mod:`crm_dashboard.ops.scope`)."""

    name: str  # the group id without the run's topic prefix
    topic: str
    state: Literal["ok", "behind"]


class DeadLetterEntry(_Frozen):
    dlq_partition: int
    dlq_offset: int
    consumer: str
    tenant_id: str | None = None  # None: the record names no tenant (operators only)
    topic: str
    partition: int
    offset: int
    error: str
    attempts: int
    failed_at: datetime
    replayed: bool


class DeadLetters(_Frozen):
    count: int | None  # every letter on crm.dlq.v1, replayed or not
    recent: list[DeadLetterEntry]  # newest first
    error: str | None = None


class WebhookRejection(_Frozen):
    reason: str  # bad_signature, unknown_shop, too_large ...
    total: float
    per_second: float | None


class ProviderError(_Frozen):
    channel: str  # email | sms | line
    provider: str  # smtp | sms | line
    status: str  # timeout, connection, an HTTP status or an SMTP code
    total: float
    per_second: float | None


class OperationsSnapshot(_Frozen):
    """``scope="installation"`` (an operator): everything. ``"tenant"``: the tenant's
    dead letters, services' health and ``pipeline`` states; the installation-wide
    numbers (``stages``, ``consumer_lag``, rejections, provider errors) stay empty."""

    taken_at: datetime
    scope: Literal["tenant", "installation"]
    services: list[ServiceHealth]
    stages: list[StageRate]
    consumer_lag: list[ConsumerLag]
    consumer_lag_error: str | None
    pipeline: list[PipelineState]
    dead_letters: DeadLetters
    webhook_rejections: list[WebhookRejection]
    provider_errors: list[ProviderError]


class ReplayResult(_Frozen):
    """``replayed``: letters re-published to their original topic (None on failure)."""

    replayed: int | None
    error: str | None = None
