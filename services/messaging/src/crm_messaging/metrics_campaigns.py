"""Prometheus metrics of campaigns and attribution."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client import Counter

CAMPAIGN_MESSAGES = Counter(
    "crm_messaging_campaign_messages_total",
    "Campaign recipients handed to the send pipeline (guardrails decide at send time)",
    ["channel"],
)
THROTTLED = Counter(
    "crm_messaging_campaign_throttled_total",
    "Campaign worker rounds whose slice the per-minute throttle cut short",
)
COMPLETED = Counter("crm_messaging_campaigns_completed_total", "Campaigns that enqueued everyone")
ATTRIBUTIONS = Counter(
    "crm_messaging_attributions_total",
    "Orders attributed to a message",
    ["channel", "source_kind"],
)
UNATTRIBUTED = Counter(
    "crm_messaging_orders_unattributed_total", "Orders with no qualifying message before them"
)
REVENUE = Counter(
    "crm_messaging_attributed_revenue_total",
    "Order totals attributed to messages (major currency units)",
    ["currency"],
)


def enqueued(channel: str, count: int) -> None:
    if count:
        CAMPAIGN_MESSAGES.labels(channel).inc(count)


def attributed(channel: str, source_kind: str, revenue: Decimal, currency: str) -> None:
    ATTRIBUTIONS.labels(channel, source_kind).inc()
    REVENUE.labels(currency).inc(float(revenue))
