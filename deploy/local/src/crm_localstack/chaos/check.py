"""The invariant checker. It knows nothing of the services' code or tables: it reads
their REST APIs, the canonical events topic and the sinks, and compares them with
the load generator's record.

Stages (each ``lost N, duplicated N``):

* facts: every accepted order (webhook, batch event, CSV row) is exactly one
  canonical ``order.placed`` on ``crm.events.v1`` (one event id; redeliveries of
  that id are the design, two ids for one order are a duplicate);
* profiles: every customer's orders_count / total_spent / last order equals the
  shop's books (fewer or less: lost; more: duplicated);
* segment: the buyers segment's members equal ``/verify`` and the buyers by the
  books (missing: lost; extra: duplicated);
* journey: every buyer has one message of the first-order journey (sent, or not
  sent with a reason); none has two;
* campaign: nobody has two campaign messages; none is left unfinished;
* email sink: every message the send log calls sent reached the SMTP sink, and the
  sink saw no message id twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crm_localstack.chaos.load import Record
from crm_localstack.chaos.sinks import SmtpSink

FINISHED = {"sent", "failed", "skipped"}


@dataclass
class Stage:
    name: str
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    checked: str = ""  # what was compared, e.g. "812 orders"

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicated

    def line(self) -> str:
        text = f"{self.name:<12} lost {len(self.lost)}, duplicated {len(self.duplicated)}"
        text += f"   ({self.checked})" if self.checked else ""
        examples = (self.lost + self.duplicated)[:3]
        return text + (f"   e.g. {'; '.join(examples)}" if examples else "")


@dataclass
class Checker:
    record: Record
    bootstrap: str
    profile: str
    segment: str
    messaging: str
    smtp: SmtpSink
    topic_prefix: str = ""

    async def stages(self) -> list[Stage]:
        async with httpx.AsyncClient(timeout=30, headers=self.record.headers) as client:
            facts = await self._facts()
            profiles, owners = await self._profiles(client)
            segment = await self._segment(client, owners)
            messages = await self._messages(client)
            campaign = await self._campaign_row(client)
        buyers = {pid for pid in owners.values() if pid}
        return [
            facts,
            profiles,
            segment,
            self._journey(messages, buyers),
            self._campaign(messages, campaign),
            self._email(messages),
        ]

    # -- topics --------------------------------------------------------------------
    async def _facts(self) -> Stage:
        placed: dict[str, set[str]] = defaultdict(set)
        for event in await self._events():
            if event.get("tenant_id") == self.record.tenant_id and event["type"] == "order.placed":
                placed[str(event["data"]["order_id"])].add(event["event_id"])
        stage = Stage("facts", checked=f"{len(self.record.orders)} accepted orders")
        for order_id in self.record.orders:
            ids = placed.get(order_id, set())
            if not ids:
                stage.lost.append(f"order {order_id} has no order.placed")
            elif len(ids) > 1:
                stage.duplicated.append(f"order {order_id} is {len(ids)} facts")
        return stage

    async def _events(self) -> list[dict[str, Any]]:
        topic = f"{self.topic_prefix}crm.events.v1"
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed",
            max_partition_fetch_bytes=16 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
        )
        await consumer.start()
        try:
            parts = [TopicPartition(topic, p) for p in await _partitions(self.bootstrap, topic)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            out: list[dict[str, Any]] = []
            while await _behind(consumer, ends):
                batch = await consumer.getmany(timeout_ms=2000, max_records=5000)
                for records in batch.values():
                    out += [orjson.loads(r.value) for r in records if r.value]
            return out
        finally:
            await consumer.stop()

    # -- profile -------------------------------------------------------------------
    async def _profiles(self, client: httpx.AsyncClient) -> tuple[Stage, dict[str, str]]:
        expected = self.record.expected_profiles()
        stage, owners = Stage("profiles", checked=f"{len(expected)} customers"), {}
        sem = asyncio.Semaphore(8)

        async def one(email: str, want: tuple[int, Decimal, datetime]) -> None:
            async with sem:
                answer = await client.get(f"{self.profile}/v1/profiles", params={"email": email})
            items = answer.json().get("items", []) if answer.status_code == 200 else []
            if not items:
                stage.lost.append(f"{email}: no profile")
                return
            if len(items) > 1:
                stage.duplicated.append(f"{email}: {len(items)} profiles")
            owners[email] = items[0]["profile_id"]
            _compare(stage, email, items[0].get("traits") or {}, want)

        await asyncio.gather(*(one(e, w) for e, w in expected.items()))
        return stage, owners

    # -- segment ---------------------------------------------------------------------
    async def _segment(self, client: httpx.AsyncClient, owners: dict[str, str]) -> Stage:
        stage = Stage("segment")
        sid = self.record.segment_id
        found = (await client.get(f"{self.segment}/v1/segments/{sid}/verify")).json()
        stage.lost += [f"verify: {p} missing" for p in found.get("missing", [])]
        stage.duplicated += [f"verify: {p} extra" for p in found.get("extra", [])]
        members = await self._members(client, sid)
        buyers = set(owners.values())
        stage.checked = f"{len(members)} members, {len(buyers)} buyers"
        stage.lost += [f"buyer {p} not a member" for p in buyers - members]
        stage.duplicated += [f"{p} a member without a purchase" for p in members - buyers]
        return stage

    async def _members(self, client: httpx.AsyncClient, sid: str) -> set[str]:
        members: set[str] = set()
        cursor: str | None = None
        while True:
            params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
            page = (
                await client.get(f"{self.segment}/v1/segments/{sid}/members", params=params)
            ).json()
            members |= {m["profile_id"] for m in page["members"]}
            cursor = page.get("next_cursor")
            if not cursor:
                return members

    # -- messaging -------------------------------------------------------------------
    async def _messages(self, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
            page = (await client.get(f"{self.messaging}/v1/messages", params=params)).json()
            out += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    def _journey(self, messages: list[dict[str, Any]], buyers: set[str]) -> Stage:
        stage = Stage("journey")
        mine = [m for m in messages if m["source_id"] == self.record.journey_id]
        per = Counter(m["profile_id"] for m in mine)
        states = Counter(m["state"] for m in mine)
        stage.checked = f"{len(buyers)} buyers, messages {dict(states)}"
        stage.lost += [f"buyer {p}: no journey message" for p in buyers - set(per)]
        stage.duplicated += [f"{p}: {n} journey messages" for p, n in per.items() if n > 1]
        stage.lost += [_unfinished(m) for m in mine if m["state"] not in FINISHED]
        return stage

    async def _campaign_row(self, client: httpx.AsyncClient) -> dict[str, Any]:
        if not self.record.campaign_id:
            return {}
        url = f"{self.messaging}/v1/campaigns/{self.record.campaign_id}"
        return dict((await client.get(url)).json())

    def _campaign(self, messages: list[dict[str, Any]], row: dict[str, Any]) -> Stage:
        """Everyone of the frozen audience has exactly one message, finished."""
        stage = Stage("campaign")
        if not self.record.campaign_id:
            stage.lost.append("the campaign was never scheduled")
            return stage
        mine = [m for m in messages if m["source_id"] == self.record.campaign_id]
        per = Counter(m["profile_id"] for m in mine)
        audience = int(row.get("audience") or 0)
        stage.checked = f"audience {audience}, messages {dict(Counter(m['state'] for m in mine))}"
        if row.get("finished_at") is None:
            stage.lost.append(f"campaign {row.get('status')}: {row.get('enqueued')}/{audience}")
        if len(per) < audience:
            stage.lost.append(f"audience {audience}, {len(per)} people have a message")
        elif len(per) > audience:
            stage.duplicated.append(f"audience {audience}, {len(per)} people have a message")
        stage.duplicated += [f"{p}: {n} campaign messages" for p, n in per.items() if n > 1]
        stage.lost += [_unfinished(m) for m in mine if m["state"] not in FINISHED]
        if not mine:
            stage.lost.append("the campaign sent nothing")
        return stage

    def _email(self, messages: list[dict[str, Any]]) -> Stage:
        stage = Stage("email sink")
        seen = self.smtp.snapshot()
        email = [m for m in messages if m["channel"] == "email"]
        sent = {m["message_id"] for m in email if m["state"] == "sent"}
        stage.lost += [f"{m}: sent but never reached SMTP" for m in sent - set(seen)]
        known = {m["message_id"] for m in email}
        stage.checked = f"{len(sent)} sent, {sum(seen.values())} deliveries"
        stage.duplicated += [f"{m}: delivered, unknown to the send log" for m in set(seen) - known]
        stage.duplicated += [f"{m}: {n} deliveries" for m, n in seen.items() if n > 1]
        return stage


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return [p["partition"] for p in described["partitions"]]
    finally:
        await admin.close()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


def _unfinished(message: dict[str, Any]) -> str:
    return f"{message['message_id']} left {message['state']} ({message.get('reason')})"


def _compare(
    stage: Stage, email: str, traits: dict[str, Any], want: tuple[int, Decimal, datetime]
) -> None:
    count, spent, last = want
    got_count = int(traits.get("orders_count") or 0)
    got_spent = Decimal(str(traits.get("total_spent") or 0))
    got_last = traits.get("last_order_at")
    if got_count < count or got_spent < spent:
        stage.lost.append(f"{email}: {got_count} orders / {got_spent}, books {count} / {spent}")
    elif got_count > count or got_spent > spent:
        stage.duplicated.append(f"{email}: {got_count} / {got_spent}, books {count} / {spent}")
    elif got_last is None or datetime.fromisoformat(got_last) != last:
        stage.lost.append(f"{email}: last order {got_last}, books {last.isoformat()}")
