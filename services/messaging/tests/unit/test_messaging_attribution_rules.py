"""Attribution windows and the last-touch rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_messaging.domain.attribution import (
    AttributionWindows,
    Order,
    Touch,
    last_touch,
    longest_window,
    order_of,
    qualifies,
)
from crm_messaging.domain.tenant_settings import MessagingSettings

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DEFAULT = AttributionWindows()


def touch(mid: str, channel: str, kind: str, days: float) -> Touch:
    return Touch(mid, channel, kind, T0 + timedelta(days=days))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("channel", "kind", "after_days", "expected"),
    [
        ("email", "opened", 3, True),
        ("email", "clicked", 5, True),  # inclusive end
        ("email", "clicked", 6, False),
        ("email", "sent", 1, False),  # an unopened email never converts
        ("sms", "clicked", 4.9, True),
        ("sms", "opened", 1, False),
        ("line", "clicked", 5.01, False),
        ("postal_dm", "sent", 20, True),
        ("postal_dm", "sent", 30, True),
        ("postal_dm", "sent", 31, False),
        ("call", "sent", 1, False),
    ],
)
def test_default_windows(channel: str, kind: str, after_days: float, expected: bool) -> None:
    t = touch("m", channel, kind, 0)
    assert qualifies(t, T0 + timedelta(days=after_days), DEFAULT) is expected


def test_an_order_before_the_touch_is_not_credited_to_it() -> None:
    assert not qualifies(touch("m", "email", "opened", 1), T0, DEFAULT)


def test_the_last_qualifying_touch_wins() -> None:
    touches = [
        touch("dm", "postal_dm", "sent", 0),
        touch("mail-1", "email", "opened", 2),
        touch("mail-2", "email", "clicked", 3),
        touch("sms", "sms", "opened", 4),  # not qualifying: sms counts clicks only
        touch("mail-3", "email", "opened", 1),  # late arrival in the list, earlier touch
    ]
    found = last_touch(touches, T0 + timedelta(days=5), DEFAULT)
    assert found is not None and found.message_id == "mail-2"


def test_an_expired_later_window_leaves_an_older_longer_one() -> None:
    touches = [touch("dm", "postal_dm", "sent", 0), touch("mail", "email", "opened", 10)]
    found = last_touch(touches, T0 + timedelta(days=16), DEFAULT)
    assert found is not None and found.message_id == "dm"


def test_no_touch_no_attribution() -> None:
    assert last_touch([], T0, DEFAULT) is None


def test_windows_are_configurable_per_tenant() -> None:
    narrow = AttributionWindows(email_days=1, postal_dm_days=10)
    assert not qualifies(touch("m", "email", "opened", 0), T0 + timedelta(days=2), narrow)
    assert longest_window(narrow) == timedelta(days=10)
    assert longest_window(DEFAULT) == timedelta(days=30)
    settings = MessagingSettings.model_validate({"attribution": {"email_days": 2}})
    assert settings.attribution.email_days == 2 and settings.attribution.postal_dm_days == 30
    assert MessagingSettings().attribution == DEFAULT


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["email", "sms", "line", "postal_dm", "call"]),
            st.sampled_from(["opened", "clicked", "sent"]),
            st.floats(min_value=0, max_value=40),
        ),
        max_size=12,
    ),
    st.floats(min_value=0, max_value=45),
)
def test_the_answer_does_not_depend_on_the_order_touches_are_read(
    specs: list[tuple[str, str, float]], order_day: float
) -> None:
    touches = [touch(f"m{i}", c, k, d) for i, (c, k, d) in enumerate(specs)]
    at = T0 + timedelta(days=order_day)
    forward = last_touch(touches, at, DEFAULT)
    assert forward == last_touch(list(reversed(touches)), at, DEFAULT)
    if forward is not None:
        assert qualifies(forward, at, DEFAULT)
        assert all(t.at <= forward.at for t in touches if qualifies(t, at, DEFAULT))


def test_order_of_reads_the_profile_activity_payload() -> None:
    data = {"order_id": "o1", "total": "12000", "currency": "JPY", "placed_at": T0.isoformat()}
    assert order_of(data, T0 - timedelta(days=1)) == Order("o1", Decimal("12000"), "JPY", T0)
    fallback = order_of({**data, "placed_at": None}, T0 - timedelta(days=1))
    assert fallback is not None and fallback.placed_at == T0 - timedelta(days=1)
    assert order_of({**data, "total": "abc"}, T0) is None
    assert order_of({**data, "order_id": ""}, T0) is None
