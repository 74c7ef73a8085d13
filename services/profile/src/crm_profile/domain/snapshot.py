"""The flat, segmentable snapshot published with ``profile.changed``.

It holds the computed traits, consent and suppression per channel, and the
attributes segments select on, but no direct personal data: no name, email
address, phone number, street address or exact birthday (only the birth month,
the prefecture and the email domain). What a consumer needs to contact the
person (messaging) travels beside it in ``profile.changed``'s ``contact`` block,
which profile purges from its published outbox rows on erasure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from crm_common.events.customers import Channel, ConsentState
from crm_common.events.downstream import CONTACT_PROPERTIES, ProfileContact, ProfileTraits
from crm_profile.domain.attributes import Attributes
from crm_profile.domain.consent import Permissions
from crm_profile.domain.traits import Traits


def build_snapshot(
    traits: Traits,
    attributes: AnyAttributes,
    permissions: Permissions,
    *,
    deleted: bool = False,
    redacted: bool = False,
    rfm_rank_previous: str | None = None,
) -> ProfileTraits:
    """Everything a segment may select on, flat (``ProfileTraits``, every field set)."""
    return ProfileTraits.model_validate(
        snapshot_json(
            traits,
            attributes,
            permissions,
            deleted=deleted,
            redacted=redacted,
            rfm_rank_previous=rfm_rank_previous,
        )
    )


def snapshot_json(
    traits: Traits,
    attributes: AnyAttributes,
    permissions: Permissions,
    *,
    deleted: bool = False,
    redacted: bool = False,
    rfm_rank_previous: str | None = None,
) -> dict[str, Any]:
    """:func:`build_snapshot` as the JSON it writes, built directly (the hot path:
    stored, compared and published without a model in between; the property test
    holds it to the model's JSON)."""
    out = traits.to_snapshot()
    out |= consent_values(permissions)
    out |= segmentable_attributes(attributes)
    out |= {"deleted": deleted, "redacted": redacted, "rfm_rank_previous": rfm_rank_previous}
    return out


def consent_values(permissions: Permissions) -> dict[str, Any]:
    """``consent_<ch>``, ``suppressed_<ch>`` (reason list) and ``contactable_<ch>``: what
    ``Permissions.state``, ``suppressed`` and ``can_contact`` say, in one pass."""
    states: dict[Channel | None, ConsentState] = {}
    for record in permissions.consents:
        states.setdefault(record.channel, record.state)
    active = [(s.channel, s.reason) for s in permissions.suppressions if s.active]
    out: dict[str, Any] = {}
    for channel, name in _CHANNELS:
        state = states.get(channel, ConsentState.NEVER)
        reasons = sorted({r for c, r in active if c is None or c == channel})
        out["consent_" + name] = state.value
        out["suppressed_" + name] = [r.value for r in reasons]
        out["contactable_" + name] = state is ConsentState.SUBSCRIBED and not reasons
    return out


@dataclass(frozen=True)
class StoredAttributes:
    """:class:`Attributes` as stored (its JSON), read without parsing it: what the
    snapshot needs of a profile whose attributes no event of the batch changed.
    The property test checks both readings agree."""

    raw: Mapping[str, Any]

    def value(self, name: str) -> Any:
        field = self.raw.get(name)
        return field.get("value") if field else None

    def properties(self) -> list[tuple[str, Any]]:
        return [(p["key"], p["value"]) for p in self.raw.get("properties") or ()]


AnyAttributes = Attributes | StoredAttributes


def segmentable_attributes(attributes: AnyAttributes) -> dict[str, Any]:
    if isinstance(attributes, StoredAttributes):
        return _segmentable_stored(attributes)
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
        # The LINE user id is a way to reach the person: in ``contact`` only.
        "properties": {
            p.key: p.value for p in attributes.properties if p.key not in CONTACT_PROPERTIES
        },
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


def _segmentable_stored(stored: StoredAttributes) -> dict[str, Any]:
    address = stored.value("address")
    email = stored.value("email")
    birthday = stored.value("birthday")  # ISO date
    tags = stored.value("tags")
    return {
        "prefecture": address.get("prefecture") if address else None,
        "country_code": address.get("country_code") if address else None,
        "gender": stored.value("gender"),
        "birthday_month": date.fromisoformat(birthday).month if birthday else None,
        "tags": list(tags) if tags else [],
        "email_domain": email.partition("@")[2] if email else None,
        "has_email": email is not None,
        "has_phone": stored.raw.get("phone") is not None,
        "properties": {k: v for k, v in stored.properties() if k not in CONTACT_PROPERTIES},
    }


def contact_details(attributes: AnyAttributes) -> ProfileContact:
    """How to reach the person (``ProfileSnapshot.contact``); empty after erasure."""
    return ProfileContact.model_construct(**contact_values(attributes))


def contact_values(attributes: AnyAttributes) -> dict[str, Any]:
    """The known parts of :func:`contact_details` (``birthday`` a date)."""
    if isinstance(attributes, StoredAttributes):
        return _contact_stored(attributes)
    out: dict[str, Any] = {}
    for name in CONTACT_FIELDS:
        stamped = getattr(attributes, name)
        if stamped is not None and stamped.value is not None:
            out[name] = stamped.value
    address = attributes.address.value if attributes.address else None
    if address is not None:
        out |= {f"address_{k}": v for k, v in address.model_dump().items() if v is not None}
    for key in CONTACT_PROPERTIES:
        value = next((p.value for p in attributes.properties if p.key == key), None)
        if value:
            out[key] = str(value)
    return out


def _contact_stored(stored: StoredAttributes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in CONTACT_FIELDS:
        value = stored.value(name)
        if value is not None:
            out[name] = date.fromisoformat(value) if name == "birthday" else value
    address = stored.value("address")
    if address:
        out |= {f"address_{k}": v for k, v in address.items() if v is not None}
    properties = dict(stored.properties())
    for key in CONTACT_PROPERTIES:
        if properties.get(key):
            out[key] = str(properties[key])
    return out


_CHANNELS = tuple((channel, channel.value) for channel in Channel)
