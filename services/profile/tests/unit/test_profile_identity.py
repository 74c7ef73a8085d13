"""Identifiers of identities and events: canonical, valid, de-duplicated."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crm_common.events import Identity
from crm_common.events.commerce import CartData, CartUpdated, OrderData, OrderPlaced
from crm_common.events.customers import CustomerData, CustomerUpserted
from crm_profile.domain.identity import (
    Identifier,
    IdentifierKind,
    identifiers_of,
    identifiers_of_event,
)

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def ident(kind: IdentifierKind, value: str) -> Identifier:
    return Identifier(kind=kind, value=value)


def test_every_kind_is_canonical_and_strongest_first() -> None:
    identity = Identity(
        email=" Taro.Yamada@Example.JP ",
        phone="090-1234-5678",
        external_ids={"Shopify": " 123 ", "makeshop": "m-9"},
        anonymous_id="anon-1",
        cart_token="cart-1",
        checkout_token="chk-1",
    )

    assert identifiers_of(identity) == [
        ident(IdentifierKind.EXTERNAL_ID, "makeshop:m-9"),
        ident(IdentifierKind.EXTERNAL_ID, "shopify:123"),
        ident(IdentifierKind.EMAIL, "taro.yamada@example.jp"),
        ident(IdentifierKind.PHONE, "+819012345678"),
        ident(IdentifierKind.CHECKOUT_TOKEN, "chk-1"),
        ident(IdentifierKind.CART_TOKEN, "cart-1"),
        ident(IdentifierKind.ANONYMOUS_ID, "anon-1"),
    ]


def test_full_width_input_gives_the_same_identifiers() -> None:
    wide = Identity(email="ＴＡＲＯ＠ＥＸＡＭＰＬＥ．ＪＰ", phone="０９０（１２３４）５６７８")
    narrow = Identity(email="taro@example.jp", phone="+81 90 1234 5678")

    assert identifiers_of(wide) == identifiers_of(narrow)


@pytest.mark.parametrize(
    "identity",
    [
        Identity(email="not-an-email", phone="12"),
        Identity(email="   ", cart_token="  ", external_ids={"shopify": " "}),
        Identity(),
    ],
)
def test_invalid_or_blank_values_are_dropped(identity: Identity) -> None:
    assert identifiers_of(identity) == []


def test_strength_of_each_kind() -> None:
    strong = {k for k in IdentifierKind if k.is_strong}

    assert strong == {IdentifierKind.EXTERNAL_ID, IdentifierKind.EMAIL, IdentifierKind.PHONE}
    assert ident(IdentifierKind.EXTERNAL_ID, "shopify:1").platform == "shopify"
    assert ident(IdentifierKind.EMAIL, "a@b.jp").platform is None


def test_event_identifiers_include_tokens_from_order_data() -> None:
    event = OrderPlaced(
        event_id="e1",
        tenant_id="t1",
        source="shopify",
        occurred_at=T0,
        received_at=T0,
        identity=Identity(email="a@b.jp"),
        data=OrderData(
            order_id="o1",
            placed_at=T0,
            currency="JPY",
            total=Decimal(1000),
            checkout_token="chk-9",
            cart_token="cart-9",
        ),
    )

    assert identifiers_of_event(event) == [
        ident(IdentifierKind.EMAIL, "a@b.jp"),
        ident(IdentifierKind.CHECKOUT_TOKEN, "chk-9"),
        ident(IdentifierKind.CART_TOKEN, "cart-9"),
    ]


def test_cart_event_token_not_repeated_when_also_in_identity() -> None:
    event = CartUpdated(
        event_id="e2",
        tenant_id="t1",
        source="shopify",
        occurred_at=T0,
        received_at=T0,
        identity=Identity(cart_token="cart-1"),
        data=CartData(cart_token="cart-1", updated_at=T0),
    )

    assert identifiers_of_event(event) == [ident(IdentifierKind.CART_TOKEN, "cart-1")]


def test_customer_event_identifiers_include_email_and_phone_from_data() -> None:
    event = CustomerUpserted(
        event_id="e3",
        tenant_id="t1",
        source="makeshop",
        occurred_at=T0,
        received_at=T0,
        identity=Identity(external_ids={"makeshop": "m-1"}),
        data=CustomerData(email="A@B.JP", phone="03-1234-5678"),
    )

    assert identifiers_of_event(event) == [
        ident(IdentifierKind.EXTERNAL_ID, "makeshop:m-1"),
        ident(IdentifierKind.EMAIL, "a@b.jp"),
        ident(IdentifierKind.PHONE, "+81312345678"),
    ]
