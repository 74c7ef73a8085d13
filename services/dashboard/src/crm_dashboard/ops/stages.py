"""Which counters of which service the operations view reads, and how.

The metric names are the services' own (crm_<svc>/metrics.py); tests check that
every name here and in the Grafana dashboard is one a service exports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

from crm_dashboard.ops.models import ProviderError, StageRate, WebhookRejection
from crm_dashboard.ops.sampler import Observation, Scrape


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    service: str
    metric: str  # a counter's sample name (..._total)
    where: Mapping[str, str] = field(default_factory=dict)

    def total(self, scrape: Scrape) -> float:
        return scrape.total(self.metric, self.where)


STAGES = (
    Stage(
        "webhooks_accepted",
        "Webhooks accepted",
        "ingest",
        "crm_ingest_accepted_total",
        {"channel": "webhook"},
    ),
    Stage(
        "events_normalized",
        "Raw records normalised into events",
        "ingest",
        "crm_ingest_normalized_events_total",
    ),
    Stage(
        "events_applied", "Events applied by profile", "profile", "crm_profile_events_applied_total"
    ),
    Stage("segment_evaluations", "Segment evaluations", "segment", "crm_segment_evaluations_total"),
    Stage(
        "messages_sent",
        "Messages sent",
        "messaging",
        "crm_messaging_messages_total",
        {"state": "sent"},
    ),
)
WEBHOOK_REJECTIONS = "crm_ingest_rejected_total"  # {channel, reason}
PROVIDER_ERRORS = "crm_messaging_provider_errors_total"  # {provider, status}
# Every messaging adapter talks to exactly one kind of provider (channels/*.py).
PROVIDER_CHANNELS = {"smtp": "email", "sms": "sms", "line": "line"}
METRIC_NAMES = frozenset({*(s.metric for s in STAGES), WEBHOOK_REJECTIONS, PROVIDER_ERRORS})


def stage_rates(observations: Mapping[str, Observation | None]) -> list[StageRate]:
    """One row per stage; a service without an observation (down) has None values."""
    rows = []
    for stage in STAGES:
        seen = observations.get(stage.service)
        rows.append(
            StageRate(
                stage=stage.key,
                label=stage.label,
                service=stage.service,
                total=stage.total(seen.current) if seen else None,
                per_second=seen.rate(stage.total) if seen else None,
            )
        )
    return rows


def _total(metric: str, where: Mapping[str, str], scrape: Scrape) -> float:
    return scrape.total(metric, where)


def _breakdown(
    seen: Observation, metric: str, keys: tuple[str, ...], where: Mapping[str, str]
) -> list[tuple[tuple[str, ...], float, float | None]]:
    """(label values, total, per-second rate) of ``metric`` per values of ``keys``."""
    totals = seen.current.breakdown(metric, keys, where)
    rows = []
    for key in sorted(totals):
        selected = {**where, **dict(zip(keys, key, strict=True))}
        rows.append((key, totals[key], seen.rate(partial(_total, metric, selected))))
    return rows


def webhook_rejections(seen: Observation | None) -> list[WebhookRejection]:
    """Rejected webhooks by reason (ingest's rejections of the webhook channel)."""
    if seen is None:
        return []
    rows = _breakdown(seen, WEBHOOK_REJECTIONS, ("reason",), {"channel": "webhook"})
    return [WebhookRejection(reason=k[0], total=t, per_second=r) for k, t, r in rows]


def provider_errors(seen: Observation | None) -> list[ProviderError]:
    """Failed provider calls by channel, provider and status (messaging)."""
    if seen is None:
        return []
    rows = _breakdown(seen, PROVIDER_ERRORS, ("provider", "status"), {})
    return [
        ProviderError(
            channel=PROVIDER_CHANNELS.get(provider, provider),
            provider=provider,
            status=status,
            total=t,
            per_second=r,
        )
        for (provider, status), t, r in rows
    ]
