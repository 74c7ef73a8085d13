"""Helpers of the journey end-to-end tests (a uniquely named module; ``conftest`` is
ambiguous under --import-mode=importlib): signed Shopify webhooks, fixture payloads
made unique per person, the messaging service's file clock, polling."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crm_ingest.handlers.webhooks import sign

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "shopify"


def poll(fetch: Callable[[], Any], timeout: float = 90.0) -> Any:
    """``fetch()`` once it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError("condition not met before the deadline")


def signed(body: bytes, shop: str, secret: str, topic: str) -> dict[str, str]:
    """Headers of a Shopify delivery of ``body``, signed as ingest verifies it."""
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-API-Version": "2024-10",
    }


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_bytes()))


TOKYO_ADDRESS = {
    "first_name": "花子",
    "last_name": "山田",
    "address1": "千代田1-1",
    "address2": "",
    "city": "千代田区",
    "province": "東京都",
    "province_code": "JP-13",
    "zip": "100-0001",
    "country": "Japan",
    "country_code": "JP",
    "phone": None,
}


def person(n: int, tags: str = "") -> dict[str, Any]:
    """A Shopify customer object for person ``n`` who accepts email marketing."""
    customer = fixture("customer")
    customer.update(
        id=9_100_000 + n,
        email=f"e2e-journey-{n}-{uuid.uuid4().hex[:6]}@example.jp",
        phone=f"+8190{n:08d}",
        first_name="花子",
        last_name="山田",
        tags=tags,
        accepts_marketing=True,
        email_marketing_consent={"state": "subscribed", "opt_in_level": "single_opt_in"},
        default_address={**TOKYO_ADDRESS, "id": n, "default": True},
        addresses=[{**TOKYO_ADDRESS, "id": n, "default": True}],
    )
    return customer


def checkout(customer: dict[str, Any], now: datetime) -> dict[str, Any]:
    body = fixture("checkout")
    token, cart = uuid.uuid4().hex, uuid.uuid4().hex
    body.update(
        id=int(uuid.uuid4().int % 10**12),
        token=token,
        cart_token=cart,
        email=customer["email"],
        abandoned_checkout_url=f"https://shop.example.jp/checkouts/{token}/recover",
        buyer_accepts_marketing=True,
        created_at=now.isoformat(),
        updated_at=now.isoformat(),
        customer=copy.deepcopy(customer),
    )
    return body


def order(
    customer: dict[str, Any], now: datetime, of_checkout: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = fixture("order")
    body.update(
        id=int(uuid.uuid4().int % 10**12),
        token=uuid.uuid4().hex,
        email=customer["email"],
        created_at=now.isoformat(),
        updated_at=now.isoformat(),
        checkout_token=of_checkout["token"] if of_checkout else None,
        cart_token=of_checkout["cart_token"] if of_checkout else None,
        customer=copy.deepcopy(customer),
    )
    return body


class ClockFile:
    """The messaging service's clock (MESSAGING_FAKE_CLOCK_FILE): real time plus an offset
    that the test moves forward."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = timedelta(0)
        self.write()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def write(self) -> None:
        self.path.write_text(self.now().isoformat())

    def advance(self, delta: timedelta) -> None:
        self.offset += delta
        self.write()
