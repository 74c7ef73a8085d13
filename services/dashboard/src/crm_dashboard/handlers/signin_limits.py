"""Sign-in throttle: failed attempts per account and per address, in the database.

A guesser is stopped before any password is hashed: an account (tenant + email)
with :data:`ACCOUNT_LIMIT` failures in the current window, or a client address with
:data:`ADDRESS_LIMIT`, is answered 429 with the seconds until the window ends. The
counts live in PostgreSQL, so every console replica sees the same ones; a
successful sign-in clears its account's count. Fixed windows of
:data:`WINDOW_SECONDS`: at worst twice the limit passes around a window's edge,
which is still hours for a password guesser.

The address is the TCP peer: behind a reverse proxy that is the proxy, so its
limit then acts per installation (the account limit still holds per account).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from crm_dashboard import repository as repo

WINDOW_SECONDS = 15 * 60
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 30


@dataclass(frozen=True)
class Attempt:
    tenant_id: str
    email: str
    address: str

    @property
    def account(self) -> str:
        return f"account:{self.tenant_id.strip()}:{self.email.strip().lower()}"

    @property
    def keys(self) -> list[str]:
        return [self.account, f"address:{self.address}"]


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; retry in {retry_after} s")
        self.retry_after = retry_after


def _window(now: float) -> tuple[int, int]:
    start = int(now) // WINDOW_SECONDS
    return start, (start + 1) * WINDOW_SECONDS - int(now)


async def check(session: AsyncSession, attempt: Attempt, now: float | None = None) -> None:
    """Raise :class:`TooManyAttempts` when the account or the address is over its limit."""
    window, left = _window(time.time() if now is None else now)
    counts = await repo.failures_in(session, attempt.keys, window)
    account, address = (counts.get(k, 0) for k in attempt.keys)
    if account >= ACCOUNT_LIMIT or address >= ADDRESS_LIMIT:
        raise TooManyAttempts(max(1, left))


async def failed(session: AsyncSession, attempt: Attempt, now: float | None = None) -> None:
    window, _ = _window(time.time() if now is None else now)
    await repo.add_failure(session, attempt.keys, window)
    await repo.forget_failures(session, "", before=window - 1)  # old windows


async def succeeded(session: AsyncSession, attempt: Attempt) -> None:
    await repo.forget_failures(session, attempt.account)
