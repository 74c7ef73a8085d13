"""Customer attributes with per-field last-writer-wins.

Each field keeps the stamp of the event that set it: ``data.updated_at`` (the
envelope's ``occurred_at`` when the source gives none), then ``occurred_at``,
then ``event_id``. A field an event leaves out (``None``) never erases a known
value, so a partial update from one platform cannot blank what another said.

Values are cleansed on the way in: names NFKC-cleaned, kana folded to
katakana, email and phone canonical, 郵便番号 as ``123-4567``, prefecture by its
official name. The address is one unit (its parts must stay consistent), tags
are one unit (platforms send the whole list), custom properties are per key.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from crm_common.events import Frozen
from crm_common.events.customers import Address, CustomerData, CustomerUpserted
from crm_common.normalize import (
    clean_text,
    normalize_email,
    normalize_phone,
    normalize_postal_code,
    normalize_prefecture,
)
from crm_profile.domain.errors import UnsupportedEventError
from crm_profile.domain.versions import Stamp, Stamped, pick

TEXT_FIELDS = (
    "first_name",
    "last_name",
    "first_name_kana",
    "last_name_kana",
    "email",
    "phone",
    "gender",
)
PERSONAL_FIELDS = (
    "first_name",
    "last_name",
    "first_name_kana",
    "last_name_kana",
    "email",
    "phone",
    "birthday",
    "address",
)
"""Fields erased by redaction. Gender and tags stay (anonymous, segmentable); custom
properties are erased too because shops put free-form personal data in them."""
_GENDERS = {
    "male": "male",
    "m": "male",
    "男": "male",
    "男性": "male",
    "female": "female",
    "f": "female",
    "女": "female",
    "女性": "female",
}


class Property(Frozen):
    """One shop-defined custom property."""

    key: str
    value: Any
    stamp: Stamp


class Attributes(Frozen):
    """The unified attributes of one profile.

    ``erased_through`` is set by :func:`~crm_profile.domain.redaction.redact`:
    personal fields and properties written at or before it are ignored, so a
    late, older event cannot bring erased personal data back.
    """

    first_name: Stamped[str] | None = None
    last_name: Stamped[str] | None = None
    first_name_kana: Stamped[str] | None = None
    last_name_kana: Stamped[str] | None = None
    email: Stamped[str] | None = None
    phone: Stamped[str] | None = None
    gender: Stamped[str] | None = None
    birthday: Stamped[date] | None = None
    address: Stamped[Address] | None = None
    tags: Stamped[tuple[str, ...]] | None = None
    properties: tuple[Property, ...] = ()  # sorted by key
    erased_through: Stamp | None = None

    def to_snapshot(self) -> dict[str, Any]:
        """Plain values (no stamps) for the profile snapshot; JSON-able."""
        out: dict[str, Any] = {name: _value(getattr(self, name)) for name in TEXT_FIELDS}
        out["birthday"] = self.birthday.value.isoformat() if self.birthday else None
        address = self.address.value if self.address else Address()
        out |= {f"address_{k}": v for k, v in address.model_dump().items()}
        out["tags"] = list(self.tags.value) if self.tags else []
        out["properties"] = {p.key: p.value for p in self.properties}
        return out


def apply_customer_event(current: Attributes | None, event: CustomerUpserted) -> Attributes:
    """Fold a ``customer.upserted`` into the attributes (idempotent, commutative).

    Other events (including ``customer.deleted``, whose meaning is a handler's
    decision) raise :class:`UnsupportedEventError`.
    """
    if not isinstance(event, CustomerUpserted):
        raise UnsupportedEventError("apply_customer_event", str(getattr(event, "type", event)))
    attrs = current or Attributes()
    stamp = Stamp(
        at=event.data.updated_at or event.occurred_at,
        occurred_at=event.occurred_at,
        event_id=event.event_id,
    )
    incoming = _incoming(event)
    properties = event.data.properties
    if attrs.erased_through is not None and not stamp.newer_than(attrs.erased_through):
        # Written before an erasure request: personal data must not come back.
        incoming = {k: v for k, v in incoming.items() if k not in PERSONAL_FIELDS}
        properties = {}
    update: dict[str, Any] = {
        name: pick(getattr(attrs, name), value, stamp) for name, value in incoming.items()
    }
    update["properties"] = _merge_properties(attrs.properties, properties, stamp)
    return attrs.model_copy(update=update)


def _incoming(event: CustomerUpserted) -> dict[str, Any]:
    """Cleansed values the event states; ``None`` for what it leaves out."""
    data = event.data
    return {
        "first_name": clean_text(data.first_name),
        "last_name": clean_text(data.last_name),
        "first_name_kana": to_katakana(clean_text(data.first_name_kana)),
        "last_name_kana": to_katakana(clean_text(data.last_name_kana)),
        "email": normalize_email(data.email or event.identity.email),
        "phone": normalize_phone(data.phone or event.identity.phone),
        "gender": normalize_gender(data.gender),
        "birthday": data.birthday,
        "address": normalize_address(data.address),
        "tags": _tags(data),
    }


def _merge_properties(
    current: tuple[Property, ...], incoming: dict[str, Any], stamp: Stamp
) -> tuple[Property, ...]:
    by_key = {p.key: p for p in current}
    for raw_key, value in incoming.items():
        key = clean_text(raw_key)
        if key is None or value is None:
            continue  # an absent value does not erase a known one
        known = by_key.get(key)
        if known is None or stamp.newer_than(known.stamp):
            by_key[key] = Property(key=key, value=value, stamp=stamp)
    return tuple(by_key[k] for k in sorted(by_key))


def _tags(data: CustomerData) -> tuple[str, ...] | None:
    if data.tags is None:
        return None
    return tuple(sorted({t for t in map(clean_text, data.tags) if t}))


def normalize_address(address: Address | None) -> Address | None:
    """The address with 郵便番号 and prefecture canonical; None when nothing remains."""
    if address is None:
        return None
    country = clean_text(address.country_code)
    cleaned = Address(
        postal_code=normalize_postal_code(address.postal_code),
        prefecture=normalize_prefecture(address.prefecture),
        city=clean_text(address.city),
        address1=clean_text(address.address1),
        address2=clean_text(address.address2),
        country_code=country.upper() if country else None,
    )
    return cleaned if cleaned != Address() else None


def to_katakana(value: str | None) -> str | None:
    """Hiragana folded to katakana, so フリガナ and ふりがな compare equal."""
    if value is None:
        return None
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in value)


def normalize_gender(value: str | None) -> str | None:
    """``male`` / ``female`` for the usual spellings; other answers kept, lower-cased."""
    text = clean_text(value)
    if text is None:
        return None
    return _GENDERS.get(text.lower(), text.lower())


def _value(field: Stamped[Any] | None) -> Any:
    return field.value if field is not None else None
