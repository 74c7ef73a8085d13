"""Prometheus metrics of the profile service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_APPLIED = Counter(
    "crm_profile_events_applied_total", "Canonical events applied to profiles", ["type"]
)
EVENTS_SKIPPED = Counter(
    "crm_profile_events_skipped_total", "Events that named no profile or need none", ["reason"]
)
CREATED = Counter("crm_profile_created_total", "Profiles created")
MERGES = Counter("crm_profile_merges_total", "Profiles merged into an older record")
CHANGED = Counter("crm_profile_changed_total", "profile.changed snapshots enqueued")
RACES = Counter(
    "crm_profile_identity_races_total", "Identifier claims lost to a concurrent consumer"
)
REDACTIONS = Counter("crm_profile_redactions_total", "Profiles whose personal data was erased")
APPLY_SECONDS = Histogram(
    "crm_profile_apply_seconds",
    "Time to apply one batch of events to profiles (inside its transaction)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REFRESHED = Counter(
    "crm_profile_traits_refreshed_total", "Profiles whose traits the refresher recomputed"
)
REFRESH_CHANGED = Counter(
    "crm_profile_traits_refresh_changed_total",
    "profile.changed snapshots enqueued by the refresher (time alone changed the traits)",
)
