"""Retry decisions for provider calls: classify the outcome, then back off with full jitter.

Full jitter (delay drawn uniformly from ``[0, min(cap, base * 2**(n-1))]``)
spreads the retries of many messages that failed together, instead of having
them hit a recovering provider in lock-step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

from crm_messaging.domain.clock import as_utc


class OutcomeClass(StrEnum):
    SUCCESS = "success"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class ProviderOutcome:
    """What one provider call came back with. ``status=None`` means no HTTP answer."""

    status: int | None = None
    timed_out: bool = False
    connection_error: bool = False
    retry_after: str | None = None  # raw Retry-After header


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 5  # including the first attempt

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base <= timedelta(0) or self.cap < self.base:
            raise ValueError("need max_attempts >= 1 and 0 < base <= cap")


@dataclass(frozen=True)
class Done:
    pass


@dataclass(frozen=True)
class RetryAt:
    at: datetime
    attempt: int  # the number the next attempt will have


@dataclass(frozen=True)
class GiveUp:
    reason: str  # "permanent:<status>" or "max_attempts"


RetryDecision = Done | RetryAt | GiveUp

_TRANSIENT_4XX = frozenset({408, 425, 429})


def classify(outcome: ProviderOutcome) -> OutcomeClass:
    """HTTP providers: 2xx success; timeouts, connection errors, 5xx, 408/425/429
    transient; every other status permanent (retrying a 400 repeats the same 400)."""
    if outcome.timed_out or outcome.connection_error or outcome.status is None:
        return OutcomeClass.TRANSIENT
    status = outcome.status
    if 200 <= status < 300:
        return OutcomeClass.SUCCESS
    if status >= 500 or status in _TRANSIENT_4XX:
        return OutcomeClass.TRANSIENT
    return OutcomeClass.PERMANENT


def classify_smtp(code: int) -> OutcomeClass:
    """SMTP replies are the other way round from HTTP: 4yz is transient
    (greylisting, mailbox busy), 5yz permanent (unknown user)."""
    if 200 <= code < 400:
        return OutcomeClass.SUCCESS
    if 400 <= code < 500:
        return OutcomeClass.TRANSIENT
    return OutcomeClass.PERMANENT


def backoff_delay(attempt: int, policy: RetryPolicy, rand: Callable[[], float]) -> timedelta:
    """Full-jitter delay after failed attempt number ``attempt`` (1-based); ``rand`` in [0, 1)."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    # Cap the exponent first: 2**attempt for a large attempt would overflow timedelta.
    ceiling = policy.cap if attempt > 40 else min(policy.cap, policy.base * 2 ** (attempt - 1))
    return ceiling * rand()


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as delay-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(timedelta(0), as_utc(when) - as_utc(now))


def next_retry(
    outcome: ProviderOutcome,
    attempt: int,
    policy: RetryPolicy,
    now: datetime,
    rand: Callable[[], float],
) -> RetryDecision:
    """What to do after attempt number ``attempt`` ended with ``outcome``.

    A Retry-After sent by the provider is a floor for the delay: never earlier
    than the provider asked, jitter only pushes later.
    """
    now = as_utc(now)
    kind = classify(outcome)
    if kind is OutcomeClass.SUCCESS:
        return Done()
    if kind is OutcomeClass.PERMANENT:
        return GiveUp(f"permanent:{outcome.status}")
    if attempt >= policy.max_attempts:
        return GiveUp("max_attempts")
    delay = backoff_delay(attempt, policy, rand)
    asked = parse_retry_after(outcome.retry_after, now)
    if asked is not None:
        delay = max(delay, asked)
    return RetryAt(at=now + delay, attempt=attempt + 1)
