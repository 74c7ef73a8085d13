"""Erasure everywhere, across real processes (issue 12, item 7).

People with distinctive emails, phones, names and addresses flow through the whole
pipeline as a shop would send them: signed Shopify ``customers/create`` and
``orders/create`` webhooks -> ingest -> profile -> segment and messaging, then an
email (rendered with their name), a postal DM piece (in a print batch that
is downloaded) and a call list entry each. Then:

* A is erased through ``DELETE /v1/profiles/{id}`` (profile publishes the request),
* E through Shopify's ``customers/redact`` webhook (ingest's normalizer publishes it),
* shop 2 (people C and D) through Shopify's ``shop/redact``.

Once the requests are applied, every text, JSON, array and bytea column of every
table of every schema (ingest, profile, segment, messaging, dashboard) is searched
for each of their values: none is left. B, who stays, is found in exactly the same
columns of profile, segment and messaging as before. (Ingest's published outbox
rows are copies of what is already on the topic, kept for diagnosis; a person's
request drops all of its tenant's, since only profile knows whose a row is, so B's
copies there go too: services/ingest/tests/integration/test_ingest_erasure.py.)
A's messages stay in the send log with their states (what accounting needs), the
re-downloaded print file no longer has A or E, nobody erased is left to call, and
nothing of shop 2 is left in segment, messaging or ingest but its configuration.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from e2e_journey_helpers import fixture, poll, signed
from messaging_providers import ProviderServer, SmtpServer
from service_process import run_service

pytestmark = [pytest.mark.infra, pytest.mark.slow]

ADMIN = {"Authorization": "Bearer e2e-admin"}
DEADLINE = 240.0
SCHEMAS = ("ingest", "profile", "segment", "messaging", "dashboard")
SYSTEMS_OF_RECORD = ("profile.", "segment.", "messaging.")
TEXT_TYPES = ("text", "character varying", "character", "jsonb", "json", "ARRAY", "bytea")
# Rows of a tenant that a shop/redact keeps: its configuration, not customer data.
TENANT_CONFIG = {"tenants", "shop_domains", "webhook_secrets", "api_keys"}


@dataclass
class Person:
    tag: str
    customer: dict[str, Any]
    values: list[str]
    order: dict[str, Any] = field(default_factory=dict)
    profile_id: str = ""

    @property
    def email(self) -> str:
        return str(self.customer["email"])


def make_person(tag: str) -> Person:
    """A Shopify customer whose every personal value is found nowhere else."""
    h = uuid.uuid4().hex
    digits = f"{random.randrange(10**8):08d}"
    address = {
        "first_name": f"紗{h[:6]}",
        "last_name": f"冴木{h[6:12]}",
        "address1": f"神南{h[12:20]}番地",
        "address2": f"ビル{h[20:28]}",
        "city": f"渋谷区{h[28:32]}{tag}",
        "province": "東京都",
        "province_code": "JP-13",
        "zip": "150-0041",
        "country": "Japan",
        "country_code": "JP",
        "phone": f"+8190{digits}",
        "id": random.randrange(10**9),
        "default": True,
    }
    customer = fixture("customer")
    customer.update(
        id=random.randrange(10**11),
        email=f"erasure-{tag.lower()}-{h[:12]}@example.jp",
        phone=f"+8190{digits}",
        first_name=address["first_name"],
        last_name=address["last_name"],
        accepts_marketing=True,
        email_marketing_consent={"state": "subscribed", "opt_in_level": "single_opt_in"},
        default_address=address,
        addresses=[address],
    )
    values = [
        customer["email"],
        f"90{digits}",  # +8190..., 090..., whatever the format
        address["first_name"],
        address["last_name"],
        address["address1"],
        address["address2"],
        address["city"],
    ]
    return Person(tag, customer, values)


def shop_order(person: Person) -> dict[str, Any]:
    body = fixture("order")
    now = "2026-11-20T10:00:00+09:00"
    address = person.customer["default_address"]
    body.update(
        id=random.randrange(10**12),
        token=uuid.uuid4().hex,
        email=person.email,
        phone=person.customer["phone"],
        created_at=now,
        updated_at=now,
        checkout_token=None,
        cart_token=None,
        customer=copy.deepcopy(person.customer),
        shipping_address={**address, "name": f"{address['last_name']} {address['first_name']}"},
        billing_address={**address, "name": f"{address['last_name']} {address['first_name']}"},
    )
    return body


@dataclass
class Shop:
    domain: str
    secret: str
    tenant_id: str
    key: dict[str, str]


@dataclass
class Stack:
    ingest: Any
    profile: Any
    segment: Any
    messaging: Any
    smtp: SmtpServer
    pg_url: str
    shops: list[Shop] = field(default_factory=list)

    def shop(self) -> Shop:
        domain, secret = f"erase-{uuid.uuid4().hex[:8]}.myshopify.com", "erase-secret"
        created = httpx.post(
            f"{self.ingest.url}/admin/tenants",
            headers=ADMIN,
            json={"name": "Erasure", "shop_domains": [domain], "webhook_secrets": [secret]},
        ).json()
        shop = Shop(
            domain, secret, created["tenant_id"], {"Authorization": f"Bearer {created['api_key']}"}
        )
        settings = {"quiet_hours": {}, "frequency_caps": []}
        url = f"{self.messaging.url}/v1/settings"
        poll(lambda: httpx.put(url, json=settings, headers=shop.key).status_code == 200)
        return shop

    def webhook(self, shop: Shop, topic: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        answer = httpx.post(
            f"{self.ingest.url}/webhooks/shopify",
            content=body,
            headers=signed(body, shop.domain, shop.secret, topic),
        )
        assert answer.status_code == 200, answer.text

    def api(self, shop: Shop, method: str, url: str, **kwargs: Any) -> Any:
        answer = httpx.request(method, url, headers=shop.key, timeout=30, **kwargs)
        assert answer.status_code < 300, answer.text
        return answer

    def arrive(self, shop: Shop, person: Person) -> None:
        """Customer and order webhooks in; wait until messaging knows how to reach them."""
        self.webhook(shop, "customers/create", person.customer)
        person.order = shop_order(person)
        self.webhook(shop, "orders/create", person.order)

        def profiled() -> Any:
            url = f"{self.profile.url}/v1/profiles"
            items = httpx.get(url, params={"email": person.email}, headers=shop.key).json()
            found = [i for i in items["items"] if i["traits"].get("orders_count") == 1]
            return found[0]["profile_id"] if found else None

        person.profile_id = str(poll(profiled, DEADLINE))
        sql = "SELECT 1 FROM messaging.recipients WHERE profile_id = $1 AND email = $2"
        poll(lambda: _fetch(self.pg_url, sql, person.profile_id, person.email), DEADLINE)

    def reach(self, shop: Shop, person: Person) -> None:
        """An email, a postal DM piece and a call list entry for the person."""
        parts = {
            "email": {"subject": "{{ profile.last_name }}様", "text": "{{ profile.first_name }}"},
            "postal_dm": {"offer": "{{ profile.last_name }}様限定"},
            "call": {"script": "{{ profile.last_name }}様にご案内"},
        }
        for channel, template in parts.items():
            body = {
                "source_kind": "manual",
                "source_id": f"erasure-{person.tag}",
                "profile_id": person.profile_id,
                "channel": channel,
                "purpose": "transactional",
                "template": template,
            }
            self.api(shop, "POST", f"{self.messaging.url}/v1/messages", json=body)

    def messages(self, shop: Shop, person: Person) -> list[dict[str, Any]]:
        url = f"{self.messaging.url}/v1/messages"
        answer = self.api(shop, "GET", url, params={"profile_id": person.profile_id})
        return list(answer.json()["items"])


@pytest.fixture(scope="module")
def stack(lane: Any) -> Iterator[Stack]:
    smtp, provider = SmtpServer(), ProviderServer()
    smtp.start()
    provider.start()
    env = {"INGEST_ADMIN_TOKEN": "e2e-admin", "SEGMENT_SWEEP_SECONDS": "1"}
    messaging_env = {
        **env,
        "MESSAGING_SMTP_PORT": str(smtp.port),
        "MESSAGING_LINE_API_URL": provider.url,
        "MESSAGING_SMS_API_URL": provider.url,
        "MESSAGING_DEFAULT_FROM_ADDRESS": "shop@mail.example.jp",
    }
    with ExitStack() as stack:
        services = [
            stack.enter_context(run_service(name, lane, env))
            for name in ("ingest", "profile", "segment")
        ]
        messaging = stack.enter_context(run_service("messaging", lane, messaging_env))
        yield Stack(*services, messaging, smtp, lane.pg_url("postgresql"))
    smtp.stop()
    provider.stop()


def _fetch(url: str, sql: str, *args: Any) -> list[Any]:
    async def go() -> list[Any]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(go())


async def _scan(url: str, values: list[str]) -> dict[str, set[str]]:
    """value -> ``schema.table.column`` of every column that holds it somewhere."""
    conn = await asyncpg.connect(url)
    found: dict[str, set[str]] = {}
    try:
        columns = await conn.fetch(
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns "
            "WHERE table_schema = ANY($1::text[]) AND data_type = ANY($2::text[])",
            list(SCHEMAS),
            list(TEXT_TYPES),
        )
        for schema, table, column, kind in columns:
            cell = f'"{column}"' if kind == "bytea" else f'"{column}"::text'
            needle = "convert_to(v, 'UTF8')" if kind == "bytea" else "v"
            rows = await conn.fetch(
                f'SELECT DISTINCT v FROM "{schema}"."{table}", unnest($1::text[]) v '
                f"WHERE {cell} IS NOT NULL AND position({needle} in {cell}) > 0",
                values,
            )
            for (value,) in rows:
                found.setdefault(value, set()).add(f"{schema}.{table}.{column}")
    finally:
        await conn.close()
    return found


def scan(stack: Stack, people: list[Person]) -> dict[str, set[str]]:
    return asyncio.run(_scan(stack.pg_url, [v for p in people for v in p.values]))


def schemas_of(found: dict[str, set[str]], person: Person) -> dict[str, set[str]]:
    """value -> the schemas it was found in."""
    return {v: {where.split(".")[0] for where in found.get(v, set())} for v in person.values}


def kept_columns(found: dict[str, set[str]], person: Person) -> dict[str, set[str]]:
    """value -> the columns of profile, segment and messaging that hold it."""
    return {
        v: {where for where in found.get(v, set()) if where.startswith(SYSTEMS_OF_RECORD)}
        for v in person.values
    }


def _tenant_rows(stack: Stack, tenant_id: str) -> dict[str, int]:
    """Rows of the tenant left in segment, messaging and ingest (configuration aside)."""
    sql = (
        "SELECT table_schema, table_name FROM information_schema.columns "
        "WHERE column_name = 'tenant_id' AND table_schema IN ('segment', 'messaging', 'ingest')"
    )
    left: dict[str, int] = {}
    for schema, table in _fetch(stack.pg_url, sql):
        if table in TENANT_CONFIG:
            continue
        count_sql = f'SELECT count(*) FROM "{schema}"."{table}" WHERE tenant_id = $1'
        count = _fetch(stack.pg_url, count_sql, tenant_id)[0][0]
        if count:
            left[f"{schema}.{table}"] = count
    for schema in ("segment", "messaging", "ingest"):
        sql = f'SELECT count(*) FROM "{schema}".outbox WHERE starts_with(key, $1)'
        count = _fetch(stack.pg_url, sql, f"{tenant_id}:")[0][0]
        if count:
            left[f"{schema}.outbox"] = count
    return left


def test_erasure_leaves_no_value_of_the_person_or_shop_in_any_schema(stack: Stack) -> None:
    s = stack
    shop, other = s.shop(), s.shop()
    a, b, e = make_person("A"), make_person("B"), make_person("E")
    c, d = make_person("C"), make_person("D")
    for person in (a, b, e):
        s.arrive(shop, person)
        s.reach(shop, person)
    for person in (c, d):
        s.arrive(other, person)
        s.reach(other, person)
    everyone = [a, b, e, c, d]
    poll(lambda: all(len(s.smtp.to(p.email)) == 1 for p in everyone), DEADLINE)

    def dm_pieces(of: Shop) -> Any:
        batches = s.api(of, "GET", f"{s.messaging.url}/v1/dm-batches").json()["items"]
        return batches if sum(batch["items"] for batch in batches) == 3 else None

    (batch,) = poll(lambda: dm_pieces(shop), DEADLINE)
    calls = s.api(shop, "GET", f"{s.messaging.url}/v1/call-list").json()["items"]
    assert {entry["profile_id"] for entry in calls} >= {a.profile_id, b.profile_id, e.profile_id}
    download = f"{s.messaging.url}/v1/dm-batches/{batch['batch_id']}/download"
    printed = s.api(shop, "GET", download, params={"encoding": "utf-8-sig"}).text
    assert all(p.customer["last_name"] in printed for p in (a, b, e))

    before = scan(s, everyone)
    for person in everyone:  # the scan sees every place the pipeline keeps them
        where = schemas_of(before, person)
        assert all({"ingest", "messaging", "profile"} <= found for found in where.values()), (
            person.tag,
            where,
        )
        assert "segment" in where[person.email], where
    b_before = kept_columns(before, b)

    s.api(shop, "DELETE", f"{s.profile.url}/v1/profiles/{a.profile_id}")
    redact = {
        "shop_id": 1,
        "shop_domain": shop.domain,
        "customer": {"id": e.customer["id"], "email": e.email, "phone": e.customer["phone"]},
        "orders_to_redact": [e.order["id"]],
    }
    s.webhook(shop, "customers/redact", redact)
    s.webhook(other, "shop/redact", {"shop_id": 2, "shop_domain": other.domain})

    erased = [a, e, c, d]
    try:
        poll(lambda: not scan(s, erased), DEADLINE)
    except AssertionError as exc:
        raise AssertionError(f"still stored: {scan(s, erased)}") from exc

    assert kept_columns(scan(s, [b]), b) == b_before
    try:
        poll(lambda: not _tenant_rows(s, other.tenant_id), 60)
    except AssertionError as exc:
        raise AssertionError(f"left of shop 2: {_tenant_rows(s, other.tenant_id)}") from exc

    states = sorted((m["channel"], m["state"]) for m in s.messages(shop, a))
    assert states == [("call", "sent"), ("email", "sent"), ("postal_dm", "sent")]
    reprinted = s.api(shop, "GET", download, params={"encoding": "utf-8-sig"}).text
    assert b.customer["last_name"] in reprinted
    assert a.customer["last_name"] not in reprinted
    assert e.customer["last_name"] not in reprinted
    open_calls = s.api(shop, "GET", f"{s.messaging.url}/v1/call-list").json()["items"]
    assert {entry["profile_id"] for entry in open_calls} & {a.profile_id, e.profile_id} == set()
    assert b.profile_id in {entry["profile_id"] for entry in open_calls}
