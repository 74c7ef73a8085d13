"""RFM scores at the threshold boundaries and the A-E rank rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from crm_profile.domain.rfm import (
    RfmScores,
    RfmThresholds,
    frequency_score,
    monetary_score,
    recency_score,
    score_rfm,
)

DEFAULT = RfmThresholds()


@pytest.mark.parametrize(
    ("days", "score"),
    [(0, 5), (30, 5), (31, 4), (60, 4), (61, 3), (90, 3), (91, 2), (180, 2), (181, 1), (999, 1)],
)
def test_recency_boundaries(days: int, score: int) -> None:
    assert recency_score(days, DEFAULT) == score


@pytest.mark.parametrize(
    ("orders", "score"),
    [(0, 1), (1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (9, 4), (10, 5), (40, 5)],
)
def test_frequency_boundaries(orders: int, score: int) -> None:
    assert frequency_score(orders, DEFAULT) == score


@pytest.mark.parametrize(
    ("spent", "score"),
    [
        ("0", 1),
        ("4999", 1),
        ("5000", 2),
        ("9999.99", 2),
        ("10000", 3),
        ("29999", 3),
        ("30000", 4),
        ("99999", 4),
        ("100000", 5),
    ],
)
def test_monetary_boundaries(spent: str, score: int) -> None:
    assert monetary_score(Decimal(spent), DEFAULT) == score


@pytest.mark.parametrize(
    ("scores", "rank"),
    [
        ((5, 5, 5), "A"),
        ((5, 4, 4), "A"),
        ((4, 4, 4), "B"),
        ((5, 3, 2), "B"),
        ((3, 3, 3), "C"),
        ((5, 1, 1), "C"),
        ((2, 2, 2), "D"),
        ((1, 2, 2), "D"),
        ((2, 1, 1), "E"),
        ((1, 1, 1), "E"),
    ],
)
def test_rank_from_the_sum_of_scores(scores: tuple[int, int, int], rank: str) -> None:
    r, f, m = scores

    assert RfmScores(recency=r, frequency=f, monetary=m).rank == rank


def test_tenant_thresholds_replace_the_defaults() -> None:
    usd = RfmThresholds(
        recency_days=(7, 14, 28, 56),
        frequency_orders=(2, 4, 6, 8),
        monetary=(Decimal(50), Decimal(100), Decimal(500), Decimal(1000)),
        currency="USD",
    )

    assert score_rfm(14, 4, Decimal("99.99"), usd) == RfmScores(recency=4, frequency=3, monetary=2)


def test_thresholds_must_ascend() -> None:
    with pytest.raises(ValidationError, match="strictly ascending"):
        RfmThresholds(recency_days=(30, 30, 90, 180))


@given(st.integers(0, 400), st.integers(0, 20), st.integers(0, 200_000))
def test_scores_stay_within_one_to_five(days: int, orders: int, spent: int) -> None:
    scores = score_rfm(days, orders, Decimal(spent), DEFAULT)

    assert {scores.recency, scores.frequency, scores.monetary} <= {1, 2, 3, 4, 5}


@given(st.integers(0, 400), st.integers(0, 400))
def test_more_recent_never_scores_lower(a: int, b: int) -> None:
    sooner, later = sorted((a, b))

    assert recency_score(sooner, DEFAULT) >= recency_score(later, DEFAULT)
