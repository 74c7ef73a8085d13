"""The console's operations view: data only (the pages render it).

Public API::

    scope = OpsScope("shop-1", "admin")                         # or OpsScope(None): operator
    snapshot = await operations_snapshot(http, OpsSettings(), scope)   # OperationsSnapshot
    result = await replay_dead_letters(http, settings, scope)   # ReplayResult
    snapshot.model_dump(mode="json")                            # for a JSON endpoint

Events per second need two samples: a process-wide :class:`MetricsSampler` keeps
the previous scrape of each service, so the first snapshot has rates ``None``.
:mod:`crm_dashboard.ops.exporter` exports lag, dead letters and readiness as
Prometheus gauges on the dashboard's /metrics.
"""

from crm_dashboard.ops.dlq import dead_letters, replay_dead_letters
from crm_dashboard.ops.lag import consumer_lag
from crm_dashboard.ops.models import (
    ConsumerLag,
    DeadLetterEntry,
    DeadLetters,
    OperationsSnapshot,
    PartitionLag,
    PipelineState,
    ProviderError,
    ReplayResult,
    ServiceHealth,
    StageRate,
    WebhookRejection,
)
from crm_dashboard.ops.sampler import MetricsSampler
from crm_dashboard.ops.scope import EXPORTER, OpsScope
from crm_dashboard.ops.settings import SERVICES, OpsSettings
from crm_dashboard.ops.snapshot import DEFAULT_SAMPLER, operations_snapshot
from crm_dashboard.ops.stages import STAGES

__all__ = [
    "DEFAULT_SAMPLER",
    "EXPORTER",
    "SERVICES",
    "STAGES",
    "ConsumerLag",
    "DeadLetterEntry",
    "DeadLetters",
    "MetricsSampler",
    "OperationsSnapshot",
    "OpsScope",
    "OpsSettings",
    "PartitionLag",
    "PipelineState",
    "ProviderError",
    "ReplayResult",
    "ServiceHealth",
    "StageRate",
    "WebhookRejection",
    "consumer_lag",
    "dead_letters",
    "operations_snapshot",
    "replay_dead_letters",
]
