"""Per-provider send rate limits: one token bucket per provider in each process.

With N replicas the provider sees at most N times the configured rate; set
``MESSAGING_RATE_LIMITS`` to the provider's limit divided by the replica count.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


class RateLimiter:
    def __init__(self, rates: dict[str, float]) -> None:
        self._buckets = {name: TokenBucket(rate) for name, rate in rates.items() if rate > 0}

    async def acquire(self, provider: str) -> None:
        bucket = self._buckets.get(provider)
        if bucket is not None:
            await bucket.acquire()
