"""Prometheus metrics of the messaging service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MESSAGES = Counter(
    "crm_messaging_messages_total",
    "Message state transitions",
    ["channel", "state", "reason"],
)
PROVIDER_ERRORS = Counter(
    "crm_messaging_provider_errors_total",
    "Provider calls that did not succeed",
    ["provider", "status"],
)
BOUNCES = Counter(
    "crm_messaging_email_feedback_total",
    "Email bounces and complaints reported back (DSN or ESP webhook)",
    ["kind"],  # hard | soft | complaint
)
SEND_LATENCY = Histogram(
    "crm_messaging_queued_to_sent_seconds",
    "Time from enqueue to sent (business clock)",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
)
PROVIDER_SECONDS = Histogram(
    "crm_messaging_provider_call_seconds",
    "Provider call duration",
    ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def transition(channel: str, state: str, reason: str | None = None) -> None:
    # Reasons are short codes (no_consent, frequency_cap ...), never free text or PII.
    label = (reason or "").split(":", 1)[0] if state != "skipped" else (reason or "")
    MESSAGES.labels(channel, state, label).inc()
