"""The send-time decision: may this message go to this person on this channel now?

Rules, in order (the first that applies wins, so the reason is the strongest):

1. suppression (hard bounce, complaint, legal hold ...) -> Skip, for every purpose
2. marketing without consent -> Skip("no_consent")
3. no usable address for the channel -> Skip("missing_address", detail=field)
4. marketing over a frequency cap -> Skip("frequency_cap")
5. inside the channel's quiet hours -> Hold(until the window opens)

Skips come before the hold so that a held message is not released only to be
skipped later for a reason already known now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import Field

from crm_common.events import Frozen, UtcDatetime
from crm_common.events.customers import Address, Channel, ConsentState
from crm_messaging.domain.addresses import address_problem
from crm_messaging.domain.clock import as_utc
from crm_messaging.domain.policy import FrequencyCap, Purpose, TenantPolicy, quiet_hours_release

NO_CONSENT = "no_consent"
MISSING_ADDRESS = "missing_address"
FREQUENCY_CAP = "frequency_cap"
QUIET_HOURS = "quiet_hours"
SUPPRESSED_PREFIX = "suppressed:"


class SuppressionReason(StrEnum):
    BOUNCED = "bounced"  # hard bounce / invalid number
    COMPLAINED = "complained"  # spam complaint, LINE block
    LEGAL_HOLD = "legal_hold"  # privacy request, dispute, deceased ...
    MANUAL = "manual"


class Suppression(Frozen):
    """A reason never to contact a person; ``channel=None`` means every channel."""

    reason: SuppressionReason
    channel: Channel | None = None


class MessageIntent(Frozen):
    message_id: str
    channel: Channel
    purpose: Purpose = "marketing"


class RecipientState(Frozen):
    """What the profile knows about reaching the person. A consent not listed is ``never``."""

    profile_id: str
    email: str | None = None
    phone: str | None = None  # E.164
    line_user_id: str | None = None
    name: str | None = None
    address: Address | None = None
    consents: dict[Channel, ConsentState] = Field(default_factory=dict)
    suppressions: tuple[Suppression, ...] = ()


class SentRecord(Frozen):
    channel: Channel
    purpose: Purpose
    sent_at: UtcDatetime


class SendHistory(Frozen):
    """Messages already sent to the person (only sent ones; skipped and held do not count)."""

    sent: tuple[SentRecord, ...] = ()


@dataclass(frozen=True)
class Send:
    pass


@dataclass(frozen=True)
class Skip:
    reason: str
    detail: str | None = None


@dataclass(frozen=True)
class Hold:
    until: datetime  # UTC
    reason: str = QUIET_HOURS


Decision = Send | Skip | Hold


def decide(
    message: MessageIntent,
    profile: RecipientState,
    policy: TenantPolicy,
    history: SendHistory,
    now: datetime,
) -> Decision:
    """Send, Skip(reason) or Hold(until) for ``message`` at ``now`` (aware)."""
    now = as_utc(now)
    skip = _skip_reason(message, profile, policy, history, now)
    if skip is not None:
        return skip
    return _quiet_hours(message, policy, now) or Send()


def _skip_reason(
    message: MessageIntent,
    profile: RecipientState,
    policy: TenantPolicy,
    history: SendHistory,
    now: datetime,
) -> Skip | None:
    suppression = _suppression(profile, message.channel)
    if suppression is not None:
        return Skip(SUPPRESSED_PREFIX + suppression.reason.value)
    marketing = message.purpose == "marketing"
    if marketing and not _consented(profile, policy, message.channel):
        return Skip(NO_CONSENT, profile.consents.get(message.channel, ConsentState.NEVER).value)
    missing = address_problem(
        message.channel,
        email=profile.email,
        phone=profile.phone,
        line_user_id=profile.line_user_id,
        name=profile.name,
        address=profile.address,
    )
    if missing is not None:
        return Skip(MISSING_ADDRESS, missing)
    cap = _exceeded_cap(policy, history, message.channel, now) if marketing else None
    if cap is not None:
        return Skip(FREQUENCY_CAP, _cap_label(cap))
    return None


def _suppression(profile: RecipientState, channel: Channel) -> Suppression | None:
    for suppression in profile.suppressions:
        if suppression.channel is None or suppression.channel == channel:
            return suppression
    return None


def _consented(profile: RecipientState, policy: TenantPolicy, channel: Channel) -> bool:
    state = profile.consents.get(channel, ConsentState.NEVER)
    if channel in policy.opt_in_channels:
        return state == ConsentState.SUBSCRIBED
    return state != ConsentState.UNSUBSCRIBED


def sends_in_window(history: SendHistory, cap: FrequencyCap, now: datetime) -> int:
    """Marketing sends that count against ``cap`` at ``now``: sent in ``(now - window, now]``."""
    start = as_utc(now) - cap.window
    return sum(
        1
        for record in history.sent
        if record.purpose == "marketing"
        and (cap.channel is None or record.channel == cap.channel)
        and start < record.sent_at <= now
    )


def _exceeded_cap(
    policy: TenantPolicy, history: SendHistory, channel: Channel, now: datetime
) -> FrequencyCap | None:
    for cap in policy.frequency_caps:
        applies = cap.channel is None or cap.channel == channel
        if applies and sends_in_window(history, cap, now) >= cap.max_messages:
            return cap
    return None


def _cap_label(cap: FrequencyCap) -> str:
    channel = cap.channel.value if cap.channel is not None else "all"
    return f"{channel}:{cap.max_messages}/{int(cap.window.total_seconds())}s"


def _quiet_hours(message: MessageIntent, policy: TenantPolicy, now: datetime) -> Hold | None:
    window = policy.quiet_hours.get(message.channel)
    if window is None or message.purpose not in policy.quiet_hours_purposes:
        return None
    until = quiet_hours_release(window, now, policy.timezone)
    return Hold(until.astimezone(UTC)) if until is not None else None
