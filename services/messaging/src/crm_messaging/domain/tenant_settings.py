"""A tenant's messaging settings: sender identity, guardrail policy, providers.

Every field has a default, so a tenant that never saved settings still gets
the documented policy (2 marketing emails per 7 days, quiet hours 21:00-08:00
for sms, line and call, opt-in everywhere).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from crm_common.events import Frozen
from crm_common.events.customers import Channel
from crm_messaging.domain.attribution import AttributionWindows
from crm_messaging.domain.policy import (
    FrequencyCap,
    Purpose,
    QuietWindow,
    TenantPolicy,
    _default_caps,
    _default_quiet_hours,
)

SECRET_MASK = "********"
"""What answers show instead of a provider secret; sent back, it means "keep the one
stored" (a settings form never holds the secret it edits)."""


class Sender(Frozen):
    from_name: str = ""
    from_address: str | None = None  # None: the service's default address
    reply_to: str | None = None
    unsubscribe_mailto: str | None = None  # None: unsubscribe@<from domain>
    # VERP envelope sender bounce+<message_id>@<bounce_domain>; None: the from domain.
    bounce_domain: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]+$", max_length=253)


class SmsProvider(Frozen):
    """A Twilio-style Messages API account."""

    account_sid: str
    auth_token: str
    from_number: str
    base_url: str | None = None  # None: the service's MESSAGING_SMS_API_URL


class LineProvider(Frozen):
    channel_access_token: str
    base_url: str | None = None  # None: the service's MESSAGING_LINE_API_URL


class MessagingSettings(Frozen):
    sender: Sender = Field(default_factory=Sender)
    frequency_caps: tuple[FrequencyCap, ...] = Field(default_factory=_default_caps)
    quiet_hours: dict[Channel, QuietWindow] = Field(default_factory=_default_quiet_hours)
    quiet_hours_purposes: frozenset[Purpose] = frozenset({"marketing"})
    opt_in_channels: frozenset[Channel] = frozenset(Channel)
    sms: SmsProvider | None = None
    line: LineProvider | None = None
    tracking_ttl_days: int = Field(default=90, ge=1, le=3650)
    attribution: AttributionWindows = Field(default_factory=AttributionWindows)

    def policy(self, timezone: str) -> TenantPolicy:
        return TenantPolicy(
            timezone=timezone,
            frequency_caps=self.frequency_caps,
            quiet_hours=self.quiet_hours,
            opt_in_channels=self.opt_in_channels,
            quiet_hours_purposes=self.quiet_hours_purposes,
        )

    def public(self) -> dict[str, Any]:
        """JSON for API answers: provider secrets masked."""
        data: dict[str, Any] = self.model_dump(mode="json")
        if data.get("sms"):
            data["sms"]["auth_token"] = SECRET_MASK
        if data.get("line"):
            data["line"]["channel_access_token"] = SECRET_MASK
        return data

    def keeping_secrets_of(self, current: MessagingSettings) -> MessagingSettings:
        """These settings with every masked provider secret replaced by ``current``'s;
        ValueError naming the field when there is none to keep."""
        sms, line = self.sms, self.line
        if sms is not None and sms.auth_token == SECRET_MASK:
            if current.sms is None:
                raise ValueError("sms.auth_token: no stored token to keep; enter it")
            sms = sms.model_copy(update={"auth_token": current.sms.auth_token})
        if line is not None and line.channel_access_token == SECRET_MASK:
            if current.line is None:
                raise ValueError("line.channel_access_token: no stored token to keep; enter it")
            line = line.model_copy(
                update={"channel_access_token": current.line.channel_access_token}
            )
        return self.model_copy(update={"sms": sms, "line": line})
