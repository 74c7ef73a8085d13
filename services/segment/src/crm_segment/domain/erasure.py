"""What an erasure leaves of a stored event's properties (pure).

``segment.events.properties`` is a canonical event's ``data`` as profile
republished it (``profile.activity``). Ids, amounts, lines, statuses, channels
and times are what event conditions select on and stay; the person's own data
goes: contact fields (at any depth), free text a shop or a customer wrote
(refund notes, custom properties), and everything of a ``customer.upserted``
that is not an id, a consent, a tag, the gender or a time. A type this module
does not know keeps nothing but ids and times.
"""

from __future__ import annotations

from typing import Any

REDACT_TYPE = "privacy.redact_requested"
TENANT_REDACT_TYPE = "tenant.redact_requested"

PERSONAL_KEYS = frozenset(
    {
        "email",
        "phone",
        "first_name",
        "last_name",
        "first_name_kana",
        "last_name_kana",
        "name_kana",
        "birthday",
        "address",
        "addresses",
        "note",
        "properties",
    }
)
"""Keys removed at any depth from the properties of any event."""

_KEEP_ONLY: dict[str, frozenset[str]] = {
    "customer.upserted": frozenset(
        {"customer_id", "gender", "tags", "consents", "created_at", "updated_at"}
    ),
    "custom": frozenset({"name"}),
}

_KNOWN_PREFIXES = ("order.", "checkout.", "cart.", "subscription.", "message.", "privacy.")
_KNOWN_TYPES = frozenset({"consent.changed", "customer.deleted"})


def scrub_properties(event_type: str, properties: dict[str, Any]) -> dict[str, Any]:
    """``properties`` without the person's personal data (a new dict)."""
    keep = _KEEP_ONLY.get(event_type)
    if keep is None and not _known(event_type):
        keep = frozenset(k for k in properties if _id_or_time(k))
    kept = {k: v for k, v in properties.items() if keep is None or k in keep}
    scrubbed: dict[str, Any] = _without_personal(kept)
    return scrubbed


def _known(event_type: str) -> bool:
    return event_type in _KNOWN_TYPES or event_type.startswith(_KNOWN_PREFIXES)


def _id_or_time(key: str) -> bool:
    return key.endswith(("_id", "_at"))


def _without_personal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_personal(v) for k, v in value.items() if k not in PERSONAL_KEYS}
    if isinstance(value, list):
        return [_without_personal(v) for v in value]
    return value
