"""What an erasure leaves of a recipient snapshot, and of a message (pure).

A recipient's snapshot is profile's PII-free ``traits`` with its ``contact`` block
laid over it (:func:`crm_messaging.handlers.readmodel.apply_profiles`). Erasure
takes the contact back out: names, email, phone, birthday, the postal address, the
LINE user id and custom properties. Consents, suppressions, tags and computed
traits stay (they decide nothing about anyone once there is no address).

A message keeps what accounting and attribution need: its id, person (profile id),
channel, purpose, source, template, state, reason, provider ids, attempts and
times. What was written to or about the person goes: the rendered parts, the
caller's context (coupon codes, free text), the provider's error text and, once it
can no longer be sent, its inline template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONTACT_KEYS = frozenset(
    {
        "first_name",
        "last_name",
        "first_name_kana",
        "last_name_kana",
        "email",
        "phone",
        "birthday",
        "line_user_id",
        "properties",
    }
)
ADDRESS_PREFIX = "address_"
ERASED = "erased"
"""The reason of messages that were still to be sent when their person was erased."""

PENDING_STATES = ("queued", "held")


def without_contact(traits: Mapping[str, Any]) -> dict[str, Any]:
    """The snapshot without the person's contact details (a new dict)."""
    return {
        key: value
        for key, value in traits.items()
        if key not in CONTACT_KEYS and not key.startswith(ADDRESS_PREFIX)
    }
