"""The flat, segmentable snapshot published with ``profile.changed``.

It holds the computed traits, consent and suppression per channel, and the
attributes segments select on, but no direct personal data: no name, email
address, phone number, street address or exact birthday (only the birth month,
the prefecture and the email domain). What a consumer needs to contact the
person (messaging) travels beside it in ``profile.changed``'s ``contact`` block,
which profile purges from its published outbox rows on erasure.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from crm_profile.domain.attributes import Attributes
from crm_profile.domain.consent import Permissions
from crm_profile.domain.traits import Traits


def build_snapshot(
    traits: Traits,
    attributes: Attributes,
    permissions: Permissions,
    *,
    deleted: bool = False,
    redacted: bool = False,
    rfm_rank_previous: str | None = None,
) -> dict[str, Any]:
    """Everything a segment may select on, as one flat JSON object."""
    out: dict[str, Any] = traits.to_snapshot()
    out |= permissions.to_snapshot()
    out |= segmentable_attributes(attributes)
    out |= {"deleted": deleted, "redacted": redacted, "rfm_rank_previous": rfm_rank_previous}
    return out


def segmentable_attributes(attributes: Attributes) -> dict[str, Any]:
    address = attributes.address.value if attributes.address else None
    email = attributes.email.value if attributes.email else None
    birthday = attributes.birthday.value if attributes.birthday else None
    return {
        "prefecture": address.prefecture if address else None,
        "country_code": address.country_code if address else None,
        "gender": attributes.gender.value if attributes.gender else None,
        "birthday_month": birthday.month if birthday else None,
        "tags": list(attributes.tags.value) if attributes.tags else [],
        "email_domain": email.partition("@")[2] if email else None,
        "has_email": email is not None,
        "has_phone": attributes.phone is not None,
        "properties": {p.key: p.value for p in attributes.properties},
    }


CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "first_name_kana",
    "last_name_kana",
    "email",
    "phone",
    "birthday",  # date-triggered journeys (birthday mail) need the day, not just the month
)


def contact_details(attributes: Attributes) -> dict[str, Any]:
    """How to reach the person (``ProfileSnapshot.contact``); empty after erasure."""
    out: dict[str, Any] = {}
    for name in CONTACT_FIELDS:
        stamped = getattr(attributes, name)
        if stamped is not None and stamped.value is not None:
            value = stamped.value
            out[name] = value.isoformat() if isinstance(value, date) else value
    address = attributes.address.value if attributes.address else None
    if address is not None:
        out |= {f"address_{k}": v for k, v in address.model_dump().items() if v is not None}
    line_user_id = next((p.value for p in attributes.properties if p.key == "line_user_id"), None)
    if line_user_id:
        out["line_user_id"] = line_user_id
    return out
