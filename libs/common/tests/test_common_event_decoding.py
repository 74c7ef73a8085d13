"""The fast decode path (the class picked from ``type``, validated by its own validator)
gives exactly what the discriminated union gives, and bad records the same reasons.

``reference`` below is the decoder as it was before the fast path: JSON, a copy of the
payload upcast, the union's validator. :func:`event_strategies.same` is stricter than
``==`` (set fields, extras, timestamp offsets, Decimal spellings, key order).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from event_strategies import JSON, events, model_payloads, same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from crm_common.events import (
    EVENT_TYPES,
    EventDecodeError,
    ProfileChanged,
    decode_event,
    encode_event,
    format_validation_error,
    parse_event,
    register_upcaster,
)
from crm_common.events._registry import CURRENT_VERSION, _adapter, _direct, _upcasters, upcast

CORPUS = Path(__file__).parent / "data" / "events_corpus.jsonl"
EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def reference(raw: bytes) -> Any:
    """The pre-fast-path decoder: an event, or ``("error", reason)``."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return ("error", f"not JSON: {exc}")
    if not isinstance(payload, dict):
        return ("error", "not a JSON object")
    return reference_parse(payload)


def reference_parse(payload: dict[str, Any]) -> Any:
    try:
        return _adapter.validate_python(upcast(dict(payload)))
    except ValidationError as exc:
        return ("error", format_validation_error(exc))


def decoded(raw: bytes) -> Any:
    try:
        return decode_event(raw)
    except EventDecodeError as exc:
        return ("error", exc.reason)


def parsed(payload: dict[str, Any]) -> Any:
    try:
        return parse_event(payload)
    except EventDecodeError as exc:
        return ("error", exc.reason)


@contextmanager
def upcaster(event_type: str, from_version: int, step: Any) -> Iterator[None]:
    before = CURRENT_VERSION[event_type]
    register_upcaster(event_type, from_version)(step)
    try:
        yield
    finally:
        _upcasters.pop((event_type, from_version))
        CURRENT_VERSION[event_type] = before


@pytest.mark.parametrize("cls", list(EVENT_TYPES.values()), ids=list(EVENT_TYPES))
@EXAMPLES
@given(data=st.data())
def test_every_event_type_decodes_by_the_fast_path_to_what_the_union_gives(
    cls: type[BaseModel], data: st.DataObject
) -> None:
    event = data.draw(events(cls))
    raw = encode_event(event)

    fast = _direct(orjson.loads(raw))

    assert fast is not None  # taken, not fallen back from
    assert same(fast, reference(raw))
    assert same(decode_event(raw), reference(raw))


@pytest.mark.parametrize("cls", list(EVENT_TYPES.values()), ids=list(EVENT_TYPES))
@EXAMPLES
@given(data=st.data())
def test_any_input_dict_parses_to_what_the_union_gives_or_fails_alike(
    cls: type[BaseModel], data: st.DataObject
) -> None:
    # The door's inputs (Python values: offsets, Decimals, enums, dropped defaults),
    # with the type sometimes missing, wrong or not a string, and a field sometimes
    # replaced by any JSON value: the same event, or the same reason.
    payload = {**data.draw(model_payloads(cls)), "type": cls.model_fields["type"].default}
    if data.draw(st.booleans()):
        key = data.draw(st.sampled_from([*payload, "type", "schema_version", "data"]))
        payload[key] = data.draw(JSON | st.sampled_from(["order.teleported", 2, [1]]))
    if data.draw(st.booleans()):
        payload.pop("type", None)

    assert same(parsed(payload), reference_parse(payload))


@EXAMPLES
@given(event=events(), where=st.integers(0, 10_000), junk=JSON)
def test_a_damaged_record_fails_with_the_reason_the_union_gives(
    event: Any, where: int, junk: Any
) -> None:
    # One value of a real record replaced (nested too): still the same outcome.
    payload = orjson.loads(encode_event(event))
    target, key = _pick(payload, where)
    target[key] = junk
    raw = orjson.dumps(payload)

    assert same(decoded(raw), reference(raw))


def _pick(payload: dict[str, Any], where: int) -> tuple[dict[str, Any], str]:
    """A (dict, key) of ``payload`` or of a dict nested in it, chosen by ``where``."""
    places: list[tuple[dict[str, Any], str]] = []

    def walk(node: dict[str, Any]) -> None:
        for key, value in node.items():
            places.append((node, key))
            if isinstance(value, dict):
                walk(value)

    walk(payload)
    return places[where % len(places)]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff{", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"type": "order.teleported"}', "does not match any of the expected tags"),
        (b'{"type": ["order.placed"]}', "Input tag '['order.placed']' found using 'type'"),
        (b'{"event_id": "e"}', "Unable to extract tag using discriminator 'type'"),
        (
            b'{"type": "order.placed", "schema_version": [1]}',
            "order.placed.event_id: Field required",
        ),
    ],
)
def test_bad_records_keep_their_reasons(raw: bytes, reason: str) -> None:
    with pytest.raises(EventDecodeError) as err:
        decode_event(raw)

    assert reason in err.value.reason
    assert ("error", err.value.reason) == reference(raw)


def test_an_invalid_field_is_named_with_the_union_path_as_before() -> None:
    raw = (
        b'{"event_id":"e","tenant_id":"t","source":"s","type":"consent.changed",'
        b'"occurred_at":"2026-01-01T00:00:00","received_at":"2026-01-01T00:00:00Z",'
        b'"data":{"channel":"email","state":"maybe"}}'
    )

    with pytest.raises(EventDecodeError) as err:
        decode_event(raw)

    assert err.value.reason == (
        "consent.changed.occurred_at: Input should have timezone info; "
        "consent.changed.data.state: Input should be 'subscribed', 'unsubscribed' or 'never'"
    )


def test_the_stored_corpus_decodes_by_the_fast_path_to_what_the_union_gives() -> None:
    lines = CORPUS.read_bytes().splitlines()

    for raw in lines:
        fast = _direct(orjson.loads(raw))
        assert fast is not None and same(fast, reference(raw)) and same(decode_event(raw), fast)
    assert len(lines) == 189


@EXAMPLES
@given(event=events(EVENT_TYPES["consent.changed"]))
def test_an_old_version_is_upcast_as_before(event: Any) -> None:
    def v1_to_v2(p: dict[str, Any]) -> dict[str, Any]:
        p["data"]["channel"] = {"mail": "email"}.get(p["data"]["channel"], p["data"]["channel"])
        return p

    old = orjson.loads(encode_event(event))
    old["data"]["channel"] = "mail"
    old["schema_version"] = 1
    current = orjson.loads(encode_event(event))
    current["schema_version"] = 2
    with upcaster("consent.changed", 1, v1_to_v2):
        old_raw, current_raw = orjson.dumps(old), orjson.dumps(current)
        upcast_event = decode_event(old_raw)

        assert upcast_event.schema_version == 2 and upcast_event.data.channel == "email"
        assert same(upcast_event, reference(old_raw))
        assert _direct(orjson.loads(old_raw)) is None  # the old version takes the union
        assert same(decode_event(current_raw), reference(current_raw))
        assert old["data"]["channel"] == "mail"  # the caller's payload is not changed


def test_a_record_without_a_version_is_upcast_from_version_one_as_before() -> None:
    # ProfileChanged defaults to version 2, but upcasting reads a missing version as 1.
    event = ProfileChanged.model_validate(
        {
            "event_id": "p1",
            "tenant_id": "t",
            "source": "profile",
            "occurred_at": "2026-01-01T00:00:00Z",
            "received_at": "2026-01-01T00:00:00Z",
            "data": {"profile_id": "p", "version": 1, "traits": {"orders_count": 1}},
        }
    )
    payload = orjson.loads(encode_event(event))
    del payload["schema_version"]

    def v1_to_v2(p: dict[str, Any]) -> dict[str, Any]:
        p["data"]["traits"]["orders_count"] += 1
        return p

    raw = orjson.dumps(payload)
    with upcaster("profile.changed", 1, v1_to_v2):
        upcast_event = decode_event(raw)

        assert upcast_event.data.traits.orders_count == 2
        assert same(upcast_event, reference(raw))
    assert decode_event(raw).data.traits.orders_count == 1
