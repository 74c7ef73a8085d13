"""Consent per channel, and suppression kept apart from it.

Consent is what the customer asked for (subscribed / unsubscribed / never) on
each channel; the latest statement wins, by its own timestamp
(``collected_at``, else the envelope's ``occurred_at``). On a tie, the more
restrictive state wins (unsubscribed over subscribed over never), then
``occurred_at`` and ``event_id``.

Suppression is what we learned we must not do (the address bounced, the
customer complained, a legal hold): it is recorded per channel and reason, is
never cleared by a consent change, and only an explicit
:func:`lift_suppression` later than the last trigger lifts it. Soft bounces
(``reason`` ``soft`` or ``soft:<status>``) are not suppressions: the next send may succeed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from crm_common.events import Frozen, UtcDatetime
from crm_common.events.customers import (
    Channel,
    Consent,
    ConsentChanged,
    ConsentState,
    CustomerUpserted,
)
from crm_common.events.downstream import MessageBounced, MessageComplained, MessageUnsubscribed
from crm_profile.domain.errors import UnsupportedEventError
from crm_profile.domain.versions import Stamp

ConsentEvent = (
    ConsentChanged | CustomerUpserted | MessageUnsubscribed | MessageBounced | MessageComplained
)
_RESTRICTIVENESS = {ConsentState.NEVER: 0, ConsentState.SUBSCRIBED: 1, ConsentState.UNSUBSCRIBED: 2}


class SuppressionReason(StrEnum):
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    LEGAL_HOLD = "legal_hold"


class ConsentRecord(Frozen):
    channel: Channel
    state: ConsentState
    source: str | None = None
    stamp: Stamp

    def key(self) -> tuple[datetime, int, datetime, str]:
        s = self.stamp
        return (s.at, _RESTRICTIVENESS[self.state], s.occurred_at, s.event_id)


class Suppression(Frozen):
    """A reason not to contact on ``channel`` (``None``: every channel)."""

    channel: Channel | None
    reason: SuppressionReason
    first_at: UtcDatetime
    last_at: UtcDatetime
    lifted_at: UtcDatetime | None = None

    @property
    def active(self) -> bool:
        return self.lifted_at is None or self.last_at > self.lifted_at

    def key(self) -> tuple[str, str]:
        return (self.channel or "", self.reason)


class Permissions(Frozen):
    """Consents (one record per channel) and suppressions of one profile."""

    consents: tuple[ConsentRecord, ...] = ()  # sorted by channel
    suppressions: tuple[Suppression, ...] = ()  # sorted by (channel, reason)

    def state(self, channel: Channel) -> ConsentState:
        """The consent state on ``channel``; ``never`` when nothing was ever said."""
        found = [c.state for c in self.consents if c.channel == channel]
        return found[0] if found else ConsentState.NEVER

    def suppressed(self, channel: Channel) -> tuple[SuppressionReason, ...]:
        """Active suppression reasons for ``channel`` (including all-channel holds)."""
        reasons = {s.reason for s in self.suppressions if s.active and s.channel in (channel, None)}
        return tuple(sorted(reasons))

    def can_contact(self, channel: Channel) -> bool:
        """Marketing may use ``channel``: subscribed and not suppressed."""
        return self.state(channel) is ConsentState.SUBSCRIBED and not self.suppressed(channel)

    def to_snapshot(self) -> dict[str, Any]:
        """``consent_<ch>``, ``suppressed_<ch>`` (reason list) and ``contactable_<ch>``."""
        out: dict[str, Any] = {}
        for channel in Channel:
            out[f"consent_{channel}"] = self.state(channel).value
            out[f"suppressed_{channel}"] = [r.value for r in self.suppressed(channel)]
            out[f"contactable_{channel}"] = self.can_contact(channel)
        return out


def apply_consent_event(current: Permissions | None, event: ConsentEvent) -> Permissions:
    """Fold a consent-bearing event into the permissions (idempotent, commutative)."""
    perms = current or Permissions()
    if isinstance(event, ConsentChanged):
        return _with_consents(perms, [_record(event.data, event, None)])
    if isinstance(event, CustomerUpserted):
        fallback = event.data.updated_at
        return _with_consents(perms, [_record(c, event, fallback) for c in event.data.consents])
    if isinstance(event, MessageUnsubscribed):
        stamp = Stamp(at=event.data.at, occurred_at=event.occurred_at, event_id=event.event_id)
        unsub = ConsentRecord(
            channel=event.data.channel,
            state=ConsentState.UNSUBSCRIBED,
            source=event.type,
            stamp=stamp,
        )
        return _with_consents(perms, [unsub])
    if isinstance(event, MessageBounced | MessageComplained):
        return _suppress_from_message(perms, event)
    raise UnsupportedEventError("apply_consent_event", str(getattr(event, "type", event)))


def suppress(
    perms: Permissions, channel: Channel | None, reason: SuppressionReason, at: datetime
) -> Permissions:
    """Record a suppression (e.g. an operator's legal hold); repeated calls are harmless."""
    seen = Suppression(channel=channel, reason=reason, first_at=at, last_at=at)
    return _merge_suppression(perms, seen)


def lift_suppression(
    perms: Permissions, channel: Channel | None, reason: SuppressionReason, at: datetime
) -> Permissions:
    """Lift a suppression as of ``at``; a trigger later than ``at`` re-activates it."""
    by_key = {s.key(): s for s in perms.suppressions}
    known = by_key.get((channel or "", reason))
    if known is None:
        return perms
    lifted = max(known.lifted_at or at, at)
    by_key[known.key()] = known.model_copy(update={"lifted_at": lifted})
    return perms.model_copy(update={"suppressions": _sorted_suppressions(by_key)})


def _record(
    consent: Consent, event: ConsentChanged | CustomerUpserted, fallback: datetime | None
) -> ConsentRecord:
    at = consent.collected_at or fallback or event.occurred_at
    return ConsentRecord(
        channel=consent.channel,
        state=consent.state,
        source=consent.source or event.source,
        stamp=Stamp(at=at, occurred_at=event.occurred_at, event_id=event.event_id),
    )


def _with_consents(perms: Permissions, records: list[ConsentRecord]) -> Permissions:
    by_channel = {c.channel: c for c in perms.consents}
    for record in records:
        known = by_channel.get(record.channel)
        if known is None or record.key() > known.key():
            by_channel[record.channel] = record
    ordered = tuple(by_channel[c] for c in sorted(by_channel))
    return perms.model_copy(update={"consents": ordered})


def _suppress_from_message(
    perms: Permissions, event: MessageBounced | MessageComplained
) -> Permissions:
    severity = (event.data.reason or "").lower().split(":", 1)[0]
    if isinstance(event, MessageBounced) and severity == "soft":
        return perms
    reason = (
        SuppressionReason.BOUNCED
        if isinstance(event, MessageBounced)
        else SuppressionReason.COMPLAINED
    )
    return suppress(perms, event.data.channel, reason, event.data.at)


def _merge_suppression(perms: Permissions, seen: Suppression) -> Permissions:
    by_key = {s.key(): s for s in perms.suppressions}
    known = by_key.get(seen.key())
    if known is not None:
        seen = known.model_copy(
            update={
                "first_at": min(known.first_at, seen.first_at),
                "last_at": max(known.last_at, seen.last_at),
            }
        )
    by_key[seen.key()] = seen
    return perms.model_copy(update={"suppressions": _sorted_suppressions(by_key)})


def _sorted_suppressions(by_key: dict[tuple[str, str], Suppression]) -> tuple[Suppression, ...]:
    return tuple(by_key[k] for k in sorted(by_key))
