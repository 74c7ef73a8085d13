"""A realistic Japanese tea shop for the load generator: products with categories,
Faker ja_JP customers, a year of orders with realistic repeat rates, subscriptions
(定期), abandoned checkouts, UTM sources, cancellations and refunds, as Shopify
webhook bodies. Deterministic for a seed."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from faker import Faker

CATEGORIES = {
    "煎茶": ["静岡深蒸し煎茶", "八女玉露", "宇治煎茶", "知覧茶", "狭山茶"],
    "抹茶": ["宇治抹茶 薄茶用", "西尾抹茶 濃茶用", "抹茶ラテの素"],
    "ほうじ茶": ["加賀棒ほうじ茶", "京番茶", "ほうじ茶ティーバッグ"],
    "茶器": ["常滑焼 急須", "有田焼 湯呑 2客", "茶筅", "茶こし"],
    "ギフト": ["煎茶ギフトセット", "抹茶スイーツ詰め合わせ", "季節の銘茶 3種"],
}
UTM = [  # (weight, landing query, referring site)
    (35, "", ""),
    (20, "utm_source=google&utm_medium=cpc&utm_campaign=brand", "https://www.google.com/"),
    (15, "utm_source=instagram&utm_medium=social&utm_campaign=new_tea", "https://instagram.com/"),
    (10, "utm_source=line&utm_medium=message&utm_campaign=monthly", ""),
    (10, "utm_source=newsletter&utm_medium=email&utm_campaign=sale", ""),
    (10, "utm_source=yahoo&utm_medium=cpc&utm_campaign=generic", "https://search.yahoo.co.jp/"),
]
ORDERS_PER_CUSTOMER = [(5, 0), (58, 1), (20, 2), (8, 3), (4, 4), (3, 6), (2, 12)]


@dataclass(frozen=True)
class Webhook:
    topic: str
    webhook_id: str
    at: datetime
    body: dict[str, Any]


class Shop:
    def __init__(self, seed: int, customers: int, days: int, now: datetime | None = None) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("ja_JP")
        self.fake.seed_instance(seed)
        self.customers = customers
        self.start = (now or datetime(2026, 1, 1, tzinfo=UTC)) - timedelta(days=days)
        self.days = days
        self.products = self._products()
        self._order_no = 1000
        self._ids = 10**11

    def _id(self) -> int:
        self._ids += self.rng.randint(1, 999)
        return self._ids

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128)))

    def _products(self) -> list[dict[str, Any]]:
        products: list[dict[str, Any]] = []
        for category, titles in CATEGORIES.items():
            for title in titles:
                price = self.rng.choice([540, 864, 1080, 1620, 2160, 3240, 5400])
                products.append(
                    {
                        "id": 8_000_000 + len(products),
                        "title": title,
                        "category": category,
                        "sku": f"SKU-{len(products):04d}",
                        "price": price,
                    }
                )
        return products

    def webhooks(self) -> list[Webhook]:
        """Every webhook of the shop's history, in time order."""
        out: list[Webhook] = []
        for _ in range(self.customers):
            out += self._customer_history()
        return sorted(out, key=lambda w: w.at)

    def _customer_history(self) -> list[Webhook]:
        customer = self._customer()
        signup = self.start + timedelta(seconds=self.rng.randint(0, self.days * 86400))
        customer["created_at"] = customer["updated_at"] = signup.isoformat()
        out = [Webhook("customers/create", self._uuid(), signup, customer)]
        orders = _weighted(self.rng, ORDERS_PER_CUSTOMER)
        subscription = orders >= 2 and self.rng.random() < 0.25
        at = signup
        for n in range(orders):
            gap = 30 if subscription else self.rng.randint(20, 120)
            at = at + timedelta(days=gap if n else 0, minutes=self.rng.randint(1, 600))
            if at > self.start + timedelta(days=self.days):
                break
            out += self._purchase(customer, at, subscription)
        if self.rng.random() < 0.3:  # an abandoned checkout
            at = at + timedelta(days=self.rng.randint(1, 40))
            out.append(Webhook("checkouts/create", self._uuid(), at, self._checkout(customer, at)))
        return out

    def _customer(self) -> dict[str, Any]:
        f = self.fake
        (last, last_kana, last_roman), (first, first_kana, first_roman) = (
            f.last_name_pair(),
            f.first_name_pair(),
        )
        kana = f"{last_kana} {first_kana}"
        subscribed = self.rng.random() < 0.55
        phone = f.phone_number()
        return {
            "id": self._id(),
            "email": f"{first_roman}.{last_roman}{self.rng.randint(1, 99999)}@example.jp".lower(),
            "first_name": first,
            "last_name": last,
            "phone": phone,
            "note": f"フリガナ: {kana}",
            "tags": "",
            "state": "enabled",
            "verified_email": True,
            "email_marketing_consent": {
                "state": "subscribed" if subscribed else "not_subscribed",
                "opt_in_level": "single_opt_in",
                "consent_updated_at": None,
            },
            "default_address": {
                "last_name": last,
                "first_name": first,
                "zip": f.zipcode(),
                "province": f.prefecture(),
                "city": f.city(),
                "address1": f"{f.town()}{f.chome()}{f.ban()}{f.gou()}",
                "country_code": "JP",
                "phone": phone,
            },
        }

    def _lines(self, subscription: bool) -> list[dict[str, Any]]:
        picks = self.rng.sample(self.products, k=self.rng.choice([1, 1, 1, 2, 2, 3]))
        lines = []
        for product in picks:
            line = {
                "id": self._id(),
                "product_id": product["id"],
                "variant_id": product["id"] + 500_000,
                "sku": product["sku"],
                "title": product["title"],
                "product_type": product["category"],
                "quantity": self.rng.choice([1, 1, 1, 2, 3]),
                "price": str(product["price"]),
                "discount_allocations": [],
            }
            if subscription:
                line["selling_plan_allocation"] = {"selling_plan": {"name": "定期便 毎月"}}
            lines.append(line)
        return lines

    def _checkout(self, customer: dict[str, Any], at: datetime) -> dict[str, Any]:
        token = uuid.UUID(int=self.rng.getrandbits(128)).hex
        lines = self._lines(False)
        total = sum(int(x["price"]) * x["quantity"] for x in lines)
        return {
            "id": self._id(),
            "token": token,
            "cart_token": uuid.UUID(int=self.rng.getrandbits(128)).hex,
            "email": customer["email"],
            "created_at": at.isoformat(),
            "updated_at": at.isoformat(),
            "completed_at": None,
            "currency": "JPY",
            "subtotal_price": str(total),
            "total_price": str(total),
            "abandoned_checkout_url": f"https://tea.example.jp/checkouts/{token}/recover",
            "line_items": lines,
            "customer": {k: customer[k] for k in ("id", "email", "first_name", "last_name")},
        }

    def _purchase(self, customer: dict[str, Any], at: datetime, sub: bool) -> list[Webhook]:
        order = self._order(customer, at, sub)
        out = [Webhook("orders/create", self._uuid(), at, order)]
        paid = {**order, "financial_status": "paid", "updated_at": _later(at, 5)}
        out.append(Webhook("orders/paid", self._uuid(), at + timedelta(minutes=5), paid))
        roll = self.rng.random()
        if roll < 0.03:
            when = at + timedelta(hours=3)
            cancelled = {
                **paid,
                "cancelled_at": when.isoformat(),
                "cancel_reason": "customer",
                "updated_at": when.isoformat(),
            }
            out.append(Webhook("orders/cancelled", self._uuid(), when, cancelled))
        elif roll < 0.05:
            when = at + timedelta(days=7)
            out.append(Webhook("refunds/create", self._uuid(), when, self._refund(order, when)))
        return out

    def _order(self, customer: dict[str, Any], at: datetime, sub: bool) -> dict[str, Any]:
        self._order_no += 1
        lines = self._lines(sub)
        subtotal = sum(int(x["price"]) * x["quantity"] for x in lines)
        shipping = 0 if subtotal >= 5000 else 550
        query, referrer = _weighted_utm(self.rng)
        tags = "定期" if sub else ""
        return {
            "id": self._id(),
            "name": f"#{self._order_no}",
            "order_number": self._order_no,
            "email": customer["email"],
            "phone": customer["phone"],
            "created_at": at.isoformat(),
            "processed_at": at.isoformat(),
            "updated_at": at.isoformat(),
            "currency": "JPY",
            "subtotal_price": str(subtotal),
            "total_tax": str(int((subtotal + shipping) * 10 / 110)),
            "total_discounts": "0",
            "total_price": str(subtotal + shipping),
            "financial_status": "pending",
            "fulfillment_status": None,
            "landing_site": f"/products/tea?{query}" if query else "/",
            "referring_site": referrer or None,
            "source_name": "subscription_contract" if sub else "web",
            "tags": tags,
            "cart_token": uuid.UUID(int=self.rng.getrandbits(128)).hex,
            "line_items": lines,
            "shipping_lines": [{"price": str(shipping), "title": "ヤマト運輸"}],
            "billing_address": customer["default_address"],
            "customer": {**customer, "tags": tags},
        }

    def _refund(self, order: dict[str, Any], at: datetime) -> dict[str, Any]:
        line = order["line_items"][0]
        amount = str(int(line["price"]) * line["quantity"])
        return {
            "id": self._id(),
            "order_id": order["id"],
            "created_at": at.isoformat(),
            "processed_at": at.isoformat(),
            "note": "品質不良のため返金",
            "refund_line_items": [
                {"line_item_id": line["id"], "quantity": line["quantity"], "subtotal": amount}
            ],
            "transactions": [
                {"kind": "refund", "status": "success", "amount": amount, "currency": "JPY"}
            ],
        }


def _later(at: datetime, minutes: int) -> str:
    return (at + timedelta(minutes=minutes)).isoformat()


def _weighted(rng: random.Random, table: list[tuple[int, int]]) -> int:
    weights, values = zip(*table, strict=True)
    choice: int = rng.choices(values, weights=weights)[0]
    return choice


def _weighted_utm(rng: random.Random) -> tuple[str, str]:
    weights = [w for w, _, _ in UTM]
    _, query, referrer = rng.choices(UTM, weights=weights)[0]
    return query, referrer
