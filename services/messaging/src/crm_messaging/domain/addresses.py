"""Whether a person can be reached on a channel at all (independent of consent)."""

from __future__ import annotations

import re

import phonenumbers

from crm_common.events.customers import Address, Channel
from crm_common.normalize import normalize_email, normalize_postal_code, normalize_prefecture

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")


def is_e164(phone: str | None) -> bool:
    """A phone already normalised to E.164 that libphonenumber considers possible."""
    if phone is None or not _E164.match(phone):
        return False
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_possible_number(parsed))


def is_sms_capable(phone: str | None) -> bool:
    """E.164 and not known to be a fixed line (a 03-xxxx number cannot take SMS)."""
    if phone is None or not is_e164(phone):
        return False
    number_type = phonenumbers.number_type(phonenumbers.parse(phone, None))
    return bool(number_type != phonenumbers.PhoneNumberType.FIXED_LINE)


def is_line_user_id(value: str | None) -> bool:
    """A LINE Messaging API user id: ``U`` and 32 lowercase hex digits."""
    return value is not None and bool(_LINE_USER_ID.match(value))


def postal_problem(name: str | None, address: Address | None) -> str | None:
    """What a Japanese postal address lacks for a printed DM, or None if it is complete."""
    if address is None:
        return "address"
    if address.country_code not in (None, "JP"):
        return "country"
    if normalize_postal_code(address.postal_code) is None:
        return "postal_code"
    if normalize_prefecture(address.prefecture) is None:
        return "prefecture"
    if not ((address.city or "").strip() or (address.address1 or "").strip()):
        return "address_line"
    if not (name or "").strip():
        return "name"
    return None


def address_problem(
    channel: Channel,
    *,
    email: str | None,
    phone: str | None,
    line_user_id: str | None,
    name: str | None,
    address: Address | None,
) -> str | None:
    """Which contact detail is missing or unusable for ``channel``; None when reachable."""
    match Channel(channel):
        case Channel.EMAIL:
            return None if normalize_email(email) else "email"
        case Channel.SMS:
            return None if is_sms_capable(phone) else "phone"
        case Channel.CALL:
            return None if is_e164(phone) else "phone"
        case Channel.LINE:
            return None if is_line_user_id(line_user_id) else "line_user_id"
        case Channel.POSTAL_DM:
            return postal_problem(name, address)
