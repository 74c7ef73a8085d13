"""Prometheus metrics of the ingest service (the plumbing's own live in crm_common.telemetry;
the normalizer's lag is ``crm_consumer_lag_records{consumer="ingest-normalizer"}``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ACCEPTED = Counter(
    "crm_ingest_accepted_total",
    "Inputs accepted, by channel (webhook, api, csv) and topic or event type",
    ["channel", "topic"],
)
REJECTED = Counter(
    "crm_ingest_rejected_total",
    "Inputs rejected, by channel and reason",
    ["channel", "reason"],
)
IGNORED_TOPICS = Counter(
    "crm_ingest_webhooks_ignored_total",
    "Verified webhooks of topics the normalizer does not map (answered 200, not stored)",
    ["topic"],
)
WEBHOOK_SECONDS = Histogram(
    "crm_ingest_webhook_seconds",
    "Webhook answer time, from the first byte read to the answer (includes the Kafka ack)",
    ["status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
NORMALIZED = Counter(
    "crm_ingest_normalized_events_total",
    "Canonical events produced by the normalizer, by type",
    ["type"],
)
DUPLICATE_FACTS = Counter(
    "crm_ingest_duplicate_facts_total",
    "Canonical events not published again: another delivery already told the fact",
    ["door"],
)
IMPORT_ROWS = Counter(
    "crm_ingest_import_rows_total",
    "CSV import rows, by kind and outcome (accepted, rejected, duplicate)",
    ["kind", "outcome"],
)
