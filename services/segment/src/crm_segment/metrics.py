"""Prometheus metrics of the segment service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVALUATIONS = Counter(
    "crm_segment_evaluations_total",
    "Segment definitions evaluated in memory for one profile",
    ["trigger"],  # change | sweep
)
MEMBERSHIP_CHANGES = Counter(
    "crm_segment_membership_changes_total",
    "Profiles entering or leaving segments",
    ["change", "trigger"],  # entered | exited; change | sweep | fill
)
SWEEP_SECONDS = Histogram(
    "crm_segment_sweep_seconds",
    "Time of one sweep over the due profiles",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SWEPT_PROFILES = Counter("crm_segment_swept_profiles_total", "Due profiles re-evaluated")
FILL_SECONDS = Histogram(
    "crm_segment_fill_seconds",
    "Time to fill (or refill) a segment from SQL",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
