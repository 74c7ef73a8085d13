"""Shop domain -> tenant and webhook secrets, in process, kept current by
``crm.tenants.v1``.

The webhook endpoint is the hot path: a lookup answers from memory. A shop is read
from the database (secrets opened) on its first webhook, once however many requests
wait for it, and then kept until its tenant changes. Every change of what the entry
holds (shop domains, secrets, an uninstall or reinstall) is published by ingest as
``tenant.configured`` on ``crm.tenants.v1``; :class:`TenantWatcher` reads that topic
in every process and drops the tenant's entries (and the negative entries of the
domains it names), so the next webhook reads the new state. Changes made in this
process drop entries at once.

Two safety nets: an entry is read again after ``max_age_seconds`` (default 60 s:
a change is seen then even if its announcement was lost), and while the watcher is not
following the topic (starting, Kafka away) entries live ``ttl_seconds`` only (5 s, as
before the watcher).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer

from crm_common.db import Database
from crm_common.events import EventDecodeError, TenantConfig, TenantConfigured, decode_event
from crm_ingest.repository import tenants as repo
from crm_ingest.repository.tenants import ShopTenant
from crm_ingest.topics import partitions_of

log = logging.getLogger(__name__)

_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    loaded_at: float
    tenant: ShopTenant | None


class ShopCache:
    def __init__(self, db: Database, ttl_seconds: float, max_age_seconds: float = 60.0) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._max_age = max(ttl_seconds, max_age_seconds)
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Task[ShopTenant | None]] = {}
        self._generation = 0
        self.following = False
        """True while a :class:`TenantWatcher` follows crm.tenants.v1 for this cache."""

    async def get(self, shop_domain: str) -> ShopTenant | None:
        """The shop's tenant (None: unknown shop; negative answers are cached too)."""
        hit = self._entries.get(shop_domain)
        if hit is not None and time.monotonic() - hit.loaded_at < self._lifetime():
            return hit.tenant
        loading = self._loading.get(shop_domain)
        if loading is None:
            loading = asyncio.create_task(self._load(shop_domain))
            self._loading[shop_domain] = loading
            loading.add_done_callback(lambda task: self._loaded(shop_domain, task))
        # A caller that goes away (client disconnect) leaves the read to the others.
        return await asyncio.shield(loading)

    def _lifetime(self) -> float:
        return self._max_age if self.following else self._ttl

    async def _load(self, shop_domain: str) -> ShopTenant | None:
        """One database read per shop however many requests wait for it; kept only if
        no change was announced while it ran (it may have read the old state)."""
        generation, loaded_at = self._generation, time.monotonic()
        async with self._db.transaction() as session:
            found = await repo.shop_tenant(session, shop_domain)
        if generation == self._generation:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[shop_domain] = _Entry(loaded_at, found)
        return found

    def _loaded(self, shop_domain: str, task: asyncio.Task[ShopTenant | None]) -> None:
        self._loading.pop(shop_domain, None)
        if not task.cancelled():
            task.exception()  # its waiters re-raise it; with none left it is not "lost"

    def invalidate(self) -> None:
        """Forget every shop (a change made in this process)."""
        self._generation += 1
        self._entries.clear()

    def tenant_changed(self, config: TenantConfig) -> None:
        """Forget the tenant's shops and every unknown shop it now names."""
        self._generation += 1
        named = set(config.shop_domains)
        stale = [
            domain
            for domain, entry in self._entries.items()
            if domain in named or entry.tenant is None or entry.tenant.tenant_id == config.tenant_id
        ]
        for domain in stale:
            del self._entries[domain]


class TenantWatcher:
    """Follows ``crm.tenants.v1`` from its end (no consumer group: every process sees
    every change) and tells ``cache`` of each ``tenant.configured``; restarts after an
    error, the cache on its short TTL meanwhile."""

    def __init__(self, cache: ShopCache, bootstrap_servers: str, topic: str) -> None:
        self._cache = cache
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tenant-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._cache.following = False

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._cache.following = False
                log.warning("tenant watcher restarting", extra={"error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = await partitions_of(self._bootstrap, self._topic)
            if not partitions:
                raise RuntimeError(f"{self._topic} has no partitions yet")
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for tp in partitions:  # resolve the end now: later records are changes
                await consumer.position(tp)
            # Entries read before this point may predate a change announced before it.
            self._cache.invalidate()
            self._cache.following = True
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for records in batches.values():
                    for record in records:
                        self._apply(record.value)
        finally:
            self._cache.following = False
            await consumer.stop()

    def _apply(self, value: bytes | None) -> None:
        if value is None:
            return
        try:
            event = decode_event(value)
        except EventDecodeError as exc:  # which tenant changed is unknown: all may have
            log.warning("unreadable record on the tenants topic", extra={"error": str(exc)})
            self._cache.invalidate()
            return
        if isinstance(event, TenantConfigured):
            self._cache.tenant_changed(event.data)
