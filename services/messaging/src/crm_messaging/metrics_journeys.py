"""Prometheus metrics of journeys."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RUNS_STARTED = Counter(
    "crm_messaging_journey_runs_started_total", "Journey runs started", ["trigger"]
)
RUNS_FINISHED = Counter(
    "crm_messaging_journey_runs_finished_total",
    "Journey runs that ended, by outcome (completed | exited | goal_reached)",
    ["status"],
)
STEPS = Counter("crm_messaging_journey_steps_total", "Journey step actions performed", ["action"])
WORKER_LAG = Gauge(
    "crm_messaging_journey_worker_lag_seconds",
    "How late the oldest due run is (business clock), measured each worker round",
)
