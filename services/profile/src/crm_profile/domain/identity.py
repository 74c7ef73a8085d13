"""Identifiers: the keys under which events find their customer's profile.

Every identifier is a ``(kind, value)`` pair in canonical form, so that the same
person written two ways (``Taro@Example.com`` and ``taro@example.com``,
``090-1234-5678`` and ``+819012345678``) produces equal identifiers.

Strength decides what may merge two profiles (see ``resolution``):

* strong: platform customer id (``shopify:123``), email, phone. Each names a
  person; sharing one is evidence enough to merge.
* weak: checkout token, cart token, anonymous id. They name a browser or a cart,
  which a household may share; they link an anonymous record to a known one but
  never merge two known records.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from crm_common.events import Frozen, Identity
from crm_common.events.commerce import CartData, CheckoutData, OrderData
from crm_common.events.customers import CustomerData
from crm_common.normalize import clean_text, normalize_email, normalize_phone

DEFAULT_PHONE_REGION = "JP"


class IdentifierKind(StrEnum):
    """Kinds in priority order: earlier kinds are more trustworthy."""

    EXTERNAL_ID = "external_id"  # value "platform:customer id", e.g. "shopify:123"
    EMAIL = "email"
    PHONE = "phone"
    CHECKOUT_TOKEN = "checkout_token"
    CART_TOKEN = "cart_token"
    ANONYMOUS_ID = "anonymous_id"

    @property
    def priority(self) -> int:
        """0 for the most trustworthy kind; used to order matches deterministically."""
        return _PRIORITY[self]

    @property
    def is_strong(self) -> bool:
        """Strong kinds name a person and may merge profiles; weak ones name a device."""
        return self in _STRONG


_PRIORITY = {kind: index for index, kind in enumerate(IdentifierKind)}
_STRONG = frozenset({IdentifierKind.EXTERNAL_ID, IdentifierKind.EMAIL, IdentifierKind.PHONE})


class Identifier(Frozen):
    """One canonical identifier. Hashable and totally ordered via :meth:`sort_key`."""

    kind: IdentifierKind
    value: str

    @property
    def is_strong(self) -> bool:
        return self.kind.is_strong

    @property
    def platform(self) -> str | None:
        """For an external id, the platform part (``shopify``); else ``None``."""
        if self.kind is not IdentifierKind.EXTERNAL_ID:
            return None
        return self.value.partition(":")[0]

    def sort_key(self) -> tuple[int, str]:
        return (self.kind.priority, self.value)


def external_id(platform: str, customer_id: str) -> Identifier | None:
    """``platform:customer_id`` with the platform lower-cased; None when either is blank."""
    name = clean_text(platform)
    ident = clean_text(customer_id)
    if name is None or ident is None:
        return None
    return Identifier(kind=IdentifierKind.EXTERNAL_ID, value=f"{name.lower()}:{ident}")


def email_identifier(value: str | None) -> Identifier | None:
    """The email identifier, or None when the address is not valid."""
    email = normalize_email(value)
    return Identifier(kind=IdentifierKind.EMAIL, value=email) if email else None


def phone_identifier(value: str | None, region: str = DEFAULT_PHONE_REGION) -> Identifier | None:
    """The E.164 phone identifier, or None when the number is not possible."""
    phone = normalize_phone(value, region)
    return Identifier(kind=IdentifierKind.PHONE, value=phone) if phone else None


def token_identifier(kind: IdentifierKind, value: str | None) -> Identifier | None:
    """A weak identifier taken verbatim after trimming (tokens are case-sensitive)."""
    text = clean_text(value)
    return Identifier(kind=kind, value=text) if text else None


def identifiers_of(identity: Identity, region: str = DEFAULT_PHONE_REGION) -> list[Identifier]:
    """Canonical, de-duplicated identifiers of an identity, strongest first.

    Invalid values (an email without a domain, an impossible phone number, blank
    tokens) are dropped rather than raised: the rest of the event is still good.
    """
    found: list[Identifier | None] = [
        external_id(platform, customer_id)
        for platform, customer_id in identity.external_ids.items()
    ]
    found += [
        email_identifier(identity.email),
        phone_identifier(identity.phone, region),
        token_identifier(IdentifierKind.CHECKOUT_TOKEN, identity.checkout_token),
        token_identifier(IdentifierKind.CART_TOKEN, identity.cart_token),
        token_identifier(IdentifierKind.ANONYMOUS_ID, identity.anonymous_id),
    ]
    return _canonical(found)


def identifiers_of_event(event: Any, region: str = DEFAULT_PHONE_REGION) -> list[Identifier]:
    """Identifiers of the envelope identity plus those repeated in ``data``.

    Orders, checkouts and carts repeat their cart and checkout tokens in ``data``
    and customer records their email and phone; including them lets a purchase
    find the anonymous cart that preceded it even when the source left the
    envelope identity thin. Platform customer ids are read from
    ``identity.external_ids`` only (``data.customer_id`` does not say which
    platform it belongs to).
    """
    found: list[Identifier | None] = list(identifiers_of(event.identity, region))
    data = getattr(event, "data", None)
    if isinstance(data, OrderData | CheckoutData):
        found.append(token_identifier(IdentifierKind.CHECKOUT_TOKEN, data.checkout_token))
    if isinstance(data, OrderData | CheckoutData | CartData):
        found.append(token_identifier(IdentifierKind.CART_TOKEN, data.cart_token))
    if isinstance(data, CustomerData):
        found += [email_identifier(data.email), phone_identifier(data.phone, region)]
    return _canonical(found)


def _canonical(found: list[Identifier | None]) -> list[Identifier]:
    unique = {ident for ident in found if ident is not None}
    return sorted(unique, key=Identifier.sort_key)
