"""Prometheus metrics shared by the plumbing (each service adds its own).

A service served by several worker processes (``<SERVICE>_WORKERS``) keeps its
metrics in ``PROMETHEUS_MULTIPROC_DIR`` (made by ``serve`` before the workers start),
and :func:`exposition` adds every worker's up, whichever one answers ``/metrics``.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

CONSUMED = Counter("crm_consumer_records_total", "Records consumed", ["consumer"])
DUPLICATES = Counter(
    "crm_consumer_duplicates_total", "Records skipped as already processed", ["consumer"]
)
DEAD_LETTERED = Counter("crm_dead_lettered_total", "Records sent to the DLQ", ["consumer"])
CONSUMER_RETRIES = Counter(
    "crm_consumer_transient_retries_total",
    "Batches retried after a transient failure (outage, deadlock, race)",
    ["consumer"],
)
LOOP_RESTARTS = Counter(
    "crm_loop_restarts_total", "Consumer or relay loops restarted after an error", ["loop"]
)
PRODUCER_RESETS = Counter(
    "crm_producer_resets_total", "Producers recreated after their state broke", ["client"]
)
CONSUMER_BATCH_SECONDS = Histogram(
    "crm_consumer_batch_seconds",
    "Time to apply one batch",
    ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# Several workers of one service: lag adds up over the partitions each was assigned;
# the outbox backlog is one table, the latest count wins.
CONSUMER_LAG = Gauge(
    "crm_consumer_lag_records",
    "Records behind the high watermark",
    ["consumer"],
    multiprocess_mode="livesum",
)
OUTBOX_PUBLISHED = Counter("crm_outbox_published_total", "Outbox rows published", ["schema"])
OUTBOX_PENDING = Gauge(
    "crm_outbox_pending_rows",
    "Outbox rows not yet published",
    ["schema"],
    multiprocess_mode="livemostrecent",
)
HTTP_SECONDS = Histogram(
    "crm_http_request_seconds",
    "HTTP answer time",
    ["service", "route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def exposition() -> bytes:
    """The Prometheus text of this process, or of all the service's worker processes
    when it runs several (:data:`MULTIPROCESS_DIR` set)."""
    if not os.environ.get(MULTIPROCESS_DIR):
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
