from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_messaging.domain.backoff import (
    Done,
    GiveUp,
    OutcomeClass,
    ProviderOutcome,
    RetryAt,
    RetryPolicy,
    backoff_delay,
    classify,
    classify_smtp,
    next_retry,
    parse_retry_after,
)

NOW = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)
POLICY = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(minutes=5), max_attempts=4)


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (ProviderOutcome(status=200), OutcomeClass.SUCCESS),
        (ProviderOutcome(status=202), OutcomeClass.SUCCESS),
        (ProviderOutcome(status=500), OutcomeClass.TRANSIENT),
        (ProviderOutcome(status=503), OutcomeClass.TRANSIENT),
        (ProviderOutcome(status=429), OutcomeClass.TRANSIENT),
        (ProviderOutcome(status=408), OutcomeClass.TRANSIENT),
        (ProviderOutcome(timed_out=True), OutcomeClass.TRANSIENT),
        (ProviderOutcome(connection_error=True), OutcomeClass.TRANSIENT),
        (ProviderOutcome(status=400), OutcomeClass.PERMANENT),
        (ProviderOutcome(status=401), OutcomeClass.PERMANENT),
        (ProviderOutcome(status=404), OutcomeClass.PERMANENT),
        (ProviderOutcome(status=422), OutcomeClass.PERMANENT),
    ],
)
def test_http_classification(outcome: ProviderOutcome, expected: OutcomeClass) -> None:
    assert classify(outcome) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [(250, OutcomeClass.SUCCESS), (421, OutcomeClass.TRANSIENT), (451, OutcomeClass.TRANSIENT),
     (550, OutcomeClass.PERMANENT), (554, OutcomeClass.PERMANENT)],
)  # fmt: skip
def test_smtp_classification(code: int, expected: OutcomeClass) -> None:
    assert classify_smtp(code) is expected


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(1, 10), (2, 20), (3, 40), (4, 80), (5, 160), (6, 300), (60, 300)],
)
def test_full_jitter_ceiling_doubles_up_to_cap(attempt: int, ceiling: int) -> None:
    assert backoff_delay(attempt, POLICY, lambda: 0.5) == timedelta(seconds=ceiling / 2)
    assert backoff_delay(attempt, POLICY, lambda: 0.0) == timedelta(0)


def test_transient_failure_is_retried_with_jitter() -> None:
    decision = next_retry(ProviderOutcome(status=503), 2, POLICY, NOW, lambda: 0.25)
    assert decision == RetryAt(at=NOW + timedelta(seconds=5), attempt=3)


def test_retry_after_seconds_is_a_floor() -> None:
    outcome = ProviderOutcome(status=429, retry_after="120")
    assert next_retry(outcome, 1, POLICY, NOW, lambda: 0.9) == RetryAt(
        at=NOW + timedelta(seconds=120), attempt=2
    )
    small = ProviderOutcome(status=429, retry_after="1")
    assert next_retry(small, 3, POLICY, NOW, lambda: 0.5) == RetryAt(
        at=NOW + timedelta(seconds=20), attempt=4
    )


def test_retry_after_http_date() -> None:
    header = "Wed, 01 May 2024 03:10:00 GMT"
    assert parse_retry_after(header, NOW) == timedelta(minutes=10)
    assert parse_retry_after("Wed, 01 May 2024 02:00:00 GMT", NOW) == timedelta(0)
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_permanent_and_exhausted_and_success() -> None:
    assert next_retry(ProviderOutcome(status=400), 1, POLICY, NOW, lambda: 0.5) == GiveUp(
        "permanent:400"
    )
    assert next_retry(ProviderOutcome(timed_out=True), 4, POLICY, NOW, lambda: 0.5) == GiveUp(
        "max_attempts"
    )
    assert next_retry(ProviderOutcome(status=201), 1, POLICY, NOW, lambda: 0.5) == Done()


def test_bad_policy_and_attempt() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        backoff_delay(0, POLICY, lambda: 0.5)


@given(attempt=st.integers(1, 200), r=st.floats(0, 1, exclude_max=True))
def test_delay_is_never_negative_nor_above_cap(attempt: int, r: float) -> None:
    delay = backoff_delay(attempt, POLICY, lambda: r)
    assert timedelta(0) <= delay <= POLICY.cap
