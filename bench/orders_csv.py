"""A Japanese shop's order history as a cart would export it: one CSV row per line
item, sorted by order id, Shift_JIS (cp932), streamed to a file.

Customers are made from Faker ``ja_JP`` names (a pool of real-looking name pairs,
each customer with its own member id, email and mobile number, so every customer is
one profile); some exports write phones without hyphens or in full-width digits
(the import cleanses them). Every customer has at least one order; the rest of the
orders go to customers with a skewed weight (a few regulars, many one-time buyers).
Orders are placed in time order over ``years``, with one to three lines each, tea
products from the load generator's catalogue, shipping under 5,000 yen, 10 % tax
inclusive, 定期 orders now and then, and statuses as a cart exports them.
Deterministic for a seed.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from faker import Faker

from crm_ingest.loadgen_shop import CATEGORIES

HEADER = (
    "受注番号",
    "受注日時",
    "会員ID",
    "メールアドレス",
    "電話番号",
    "姓",
    "名",
    "都道府県",
    "受注種別",
    "入金状況",
    "発送状況",
    "小計",
    "送料",
    "消費税",
    "合計金額",
    "商品コード",
    "商品名",
    "カテゴリ",
    "数量",
    "単価",
)
_DOMAINS = ("example.jp", "example.ne.jp", "example.co.jp", "example.com")
_FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")
_JST = timezone(timedelta(hours=9))
_PRICES = (540, 864, 1080, 1620, 2160, 3240, 5400)
_STATUSES = (
    ("入金済み", "発送済み"),
    ("入金済み", "発送済み"),
    ("入金済み", "未発送"),
    ("未入金", "未発送"),
)


@dataclass(frozen=True)
class History:
    path: Path
    orders: int
    customers: int
    rows: int
    bytes: int


@dataclass(frozen=True)
class _Customer:
    member_id: str
    email: str
    phone: str
    last: str
    first: str
    prefecture: str


def _people(seed: int, count: int) -> list[tuple[str, str, str, str, str]]:
    """``count`` (last, first, last roman, first roman, prefecture) from Faker ja_JP."""
    fake = Faker("ja_JP")
    fake.seed_instance(seed)
    people = []
    for _ in range(count):
        (last, _, last_roman), (first, _, first_roman) = (
            fake.last_name_pair(),
            fake.first_name_pair(),
        )
        people.append((last, first, last_roman.lower(), first_roman.lower(), fake.prefecture()))
    return people


def _customers(rng: random.Random, count: int, seed: int) -> list[_Customer]:
    pool = _people(seed, min(count, 3000))
    out = []
    for i in range(count):
        last, first, last_roman, first_roman, prefecture = pool[rng.randrange(len(pool))]
        digits = f"{i // 10_000 % 10_000:04d}{i % 10_000:04d}"
        phone = f"0{rng.choice('789')}0-{digits[:4]}-{digits[4:]}"
        roll = rng.random()
        if roll < 0.10:
            phone = phone.replace("-", "")
        elif roll < 0.13:
            phone = phone.translate(_FULL_WIDTH)
        out.append(
            _Customer(
                member_id=f"M{100000 + i}",
                email=f"{first_roman}.{last_roman}.{i}@{rng.choice(_DOMAINS)}",
                phone=phone,
                last=last,
                first=first,
                prefecture=prefecture,
            )
        )
    return out


def _buyers(rng: random.Random, orders: int, customers: int) -> list[int]:
    """Which customer places each order: everyone once, the rest skewed."""
    buyers = list(range(min(orders, customers)))
    if orders > customers:
        weights = [1.0 / (1 + (i * 7919 % customers) / (customers / 20)) for i in range(customers)]
        buyers += rng.choices(range(customers), weights=weights, k=orders - customers)
    rng.shuffle(buyers)
    return buyers


def write_history(
    path: Path, *, orders: int, customers: int, seed: int = 13, years: int = 3
) -> History:
    """Write the export to ``path``; what it holds."""
    rng = random.Random(seed)
    people = _customers(rng, customers, seed)
    buyers = _buyers(rng, orders, customers)
    products = [
        (f"SKU-{n:04d}", title, category, rng.choice(_PRICES))
        for n, (category, title) in enumerate(
            (c, t) for c, titles in CATEGORIES.items() for t in titles
        )
    ]
    end = datetime(2026, 11, 30, tzinfo=UTC)
    start = end - timedelta(days=365 * years)
    step = (end - start) / max(1, orders)
    rows = 0
    with path.open("w", encoding="cp932", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(HEADER)
        for n, buyer in enumerate(buyers):
            c = people[buyer]
            at = (start + step * n + timedelta(seconds=rng.randrange(60))).astimezone(_JST)
            lines = rng.sample(products, k=rng.choice((1, 1, 1, 2, 2, 3)))
            quantities = [rng.choice((1, 1, 1, 2, 3)) for _ in lines]
            subtotal = sum(p[3] * q for p, q in zip(lines, quantities, strict=True))
            shipping = 0 if subtotal >= 5000 else 550
            total = subtotal + shipping
            paid, shipped = _STATUSES[rng.randrange(len(_STATUSES))]
            kind = "定期" if rng.random() < 0.12 else "通常"
            head = [
                str(100_000_000 + n),
                at.strftime("%Y/%m/%d %H:%M:%S"),
                c.member_id,
                c.email,
                c.phone,
                c.last,
                c.first,
                c.prefecture,
                kind,
                paid,
                shipped,
                str(subtotal),
                str(shipping),
                str(total * 10 // 110),
                f"{total:,}" if rng.random() < 0.2 else str(total),
            ]
            for (sku, title, category, price), quantity in zip(lines, quantities, strict=True):
                writer.writerow([*head, sku, title, category, quantity, price])
                rows += 1
    return History(path, orders, customers, rows, path.stat().st_size)
