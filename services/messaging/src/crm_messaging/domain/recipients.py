"""From a profile snapshot (``profile.changed`` traits) to what sending needs.

The stored snapshot is ``ProfileSnapshot.as_stored()``: the traits and the
contact block in one flat dict; any key may be missing, which means "unknown":
an unknown consent is ``never``, an unknown address is no address.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_common.events.customers import Address, Channel, ConsentState
from crm_common.events.downstream import ProfileContact
from crm_messaging.domain.guardrails import RecipientState, Suppression, SuppressionReason

_CONTACT_KEYS = tuple(ProfileContact.model_fields)
_ADDRESS = "address_"
_DELIVERY_ONLY = ("line_user_id",)  # where LINE pushes go, not something to print
_PROFILE_KEYS = (
    # templates' ``profile``: the contact block (the address assembled apart) and the
    # traits that describe the person
    *(k for k in _CONTACT_KEYS if not k.startswith(_ADDRESS) and k not in _DELIVERY_ONLY),
    "gender",
    "tags",
)
_ADDRESS_KEYS = tuple(
    k.removeprefix(_ADDRESS) for k in ProfileContact.model_fields if k.startswith(_ADDRESS)
)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def display_name(traits: Mapping[str, Any]) -> str | None:
    """``last first`` as a Japanese label is written; either part alone if that is all."""
    parts = [_text(traits.get("last_name")), _text(traits.get("first_name"))]
    name = " ".join(p for p in parts if p)
    return name or None


def address_of(traits: Mapping[str, Any]) -> Address | None:
    values = {key: _text(traits.get(f"address_{key}")) for key in _ADDRESS_KEYS}
    if not any(values.values()):
        return None
    return Address(**values)


def line_user_id(traits: Mapping[str, Any]) -> str | None:
    """From the contact block (``ProfileContact.line_user_id``), never from properties."""
    return _text(traits.get("line_user_id"))


def _consent(value: Any) -> ConsentState | None:
    try:
        return ConsentState(value)
    except ValueError:
        return None


def consents_of(traits: Mapping[str, Any]) -> dict[Channel, ConsentState]:
    found: dict[Channel, ConsentState] = {}
    for channel in Channel:
        state = _consent(traits.get(f"consent_{channel.value}"))
        if state is not None:
            found[channel] = state
    return found


def _reason(value: Any) -> SuppressionReason:
    try:
        return SuppressionReason(str(value))
    except ValueError:
        return SuppressionReason.MANUAL  # a reason we do not know still suppresses


def suppressions_of(traits: Mapping[str, Any]) -> tuple[Suppression, ...]:
    found: list[Suppression] = []
    for channel in Channel:
        reasons = traits.get(f"suppressed_{channel.value}")
        if isinstance(reasons, list | tuple):
            found += [Suppression(reason=_reason(r), channel=channel) for r in reasons]
    return tuple(found)


def recipient_state(profile_id: str, traits: Mapping[str, Any]) -> RecipientState:
    """The guardrails' view of a person from their latest snapshot."""
    return RecipientState(
        profile_id=profile_id,
        email=_text(traits.get("email")),
        phone=_text(traits.get("phone")),
        line_user_id=line_user_id(traits),
        name=display_name(traits),
        address=address_of(traits),
        consents=consents_of(traits),
        suppressions=suppressions_of(traits),
    )


def template_profile(profile_id: str, traits: Mapping[str, Any]) -> dict[str, Any]:
    """``profile`` as templates see it: attributes and the address, not consents."""
    profile: dict[str, Any] = {"id": profile_id}
    for key in _PROFILE_KEYS:
        if traits.get(key) is not None:
            profile[key] = traits[key]
    name = display_name(traits)
    if name is not None:
        profile["name"] = name
    address = address_of(traits)
    if address is not None:
        profile["address"] = address.model_dump(exclude_none=True)
    return profile


def template_traits(traits: Mapping[str, Any]) -> dict[str, Any]:
    """``traits``: everything that is not contact data or consent bookkeeping."""
    hidden = ("consent_", "suppressed_", "contactable_", "address_")
    return {
        key: value
        for key, value in traits.items()
        if key not in _PROFILE_KEYS and key not in _CONTACT_KEYS and not key.startswith(hidden)
    }
