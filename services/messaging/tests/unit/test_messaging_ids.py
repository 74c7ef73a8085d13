import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_common.events.customers import Channel
from crm_messaging.domain.errors import InvalidIdentifier
from crm_messaging.domain.ids import (
    idempotency_key,
    journey_source_id,
    lifecycle_event_id,
    message_id,
)

MESSAGE = "393d932c-83f9-5004-a630-fd3e975345b7"


def test_journey_message_id_is_pinned() -> None:
    source = journey_source_id("j1", "s1", "r1")
    assert source == "j1/s1/r1"
    assert message_id("journey", source, "p1", Channel.EMAIL) == MESSAGE
    assert uuid.UUID(MESSAGE).version == 5


def test_message_id_differs_per_channel_profile_and_kind() -> None:
    ids = {
        message_id("journey", "j1/s1/r1", "p1", Channel.EMAIL),
        message_id("journey", "j1/s1/r1", "p1", Channel.SMS),
        message_id("journey", "j1/s1/r1", "p2", Channel.EMAIL),
        message_id("campaign", "j1/s1/r1", "p1", Channel.EMAIL),
        message_id("journey", "j1/s1/r2", "p1", Channel.EMAIL),
    }
    assert len(ids) == 5


def test_idempotency_key_is_stable_per_provider() -> None:
    assert idempotency_key(MESSAGE, "twilio") == "crm-33a3a158e1651f3ef729256aef8b852cca0c2b12"
    assert idempotency_key(MESSAGE, "sendgrid") == "crm-8b86967a8928bb81a4958981c527776b6f9768c0"
    assert len(idempotency_key(MESSAGE, "twilio")) == 44


def test_lifecycle_event_id_is_pinned() -> None:
    assert lifecycle_event_id(MESSAGE, "message.sent") == "5832409b-1ff3-5d68-a0d4-8018cd62dafd"
    assert lifecycle_event_id(MESSAGE, "message.opened", "ev1") != lifecycle_event_id(
        MESSAGE, "message.opened", "ev2"
    )


@pytest.mark.parametrize(("journey", "step", "run"), [("a/b", "c", "d"), ("a", "", "d")])
def test_ambiguous_journey_parts_are_rejected(journey: str, step: str, run: str) -> None:
    with pytest.raises(InvalidIdentifier):
        journey_source_id(journey, step, run)


def test_empty_profile_is_rejected() -> None:
    with pytest.raises(InvalidIdentifier):
        message_id("campaign", "c1", "", Channel.EMAIL)


_part = st.text(st.characters(blacklist_characters="/"), min_size=1, max_size=8)


@given(a=st.tuples(_part, _part, _part), b=st.tuples(_part, _part, _part))
def test_distinct_journey_triples_give_distinct_source_ids(
    a: tuple[str, str, str], b: tuple[str, str, str]
) -> None:
    assert (journey_source_id(*a) == journey_source_id(*b)) == (a == b)
