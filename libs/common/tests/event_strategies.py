"""Hypothesis strategies that build canonical events from their pydantic models.

Every strategy is derived from the models themselves (field annotations, their
constraints, defaults, ``extra="allow"``), so a field added to an event is generated
without touching this file. A drawn payload goes through the door (``model_validate``):
the events are what a service could have put on a topic. Optional fields are sometimes
left out, so defaults and ``model_fields_set`` are exercised too.

:func:`same` is a stricter equality than pydantic's ``==``: it also compares each
model's set fields and extras, the classes of values, timestamps' offsets and
Decimals' written form, which is what a decoded event must reproduce exactly.
"""

from __future__ import annotations

import math
import types
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

import annotated_types
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, HttpUrl, ValidationError

from crm_common.events import EVENT_TYPES
from crm_common.events.downstream import ProfileTraits

MAX_INT = 2**63 - 1  # the widest integer the JSON codecs write
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_INT - 1, MAX_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON: st.SearchStrategy[Any] = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
"""Any JSON value (what ``dict[str, Any]`` fields carry)."""

_OFFSETS = st.just(UTC) | st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
AWARE = st.datetimes(
    min_value=datetime(2, 1, 2), max_value=datetime(9998, 12, 30), timezones=_OFFSETS
)
"""Aware instants whose UTC is on the events' calendar, at any offset."""

DECIMALS = st.integers(0, 4).flatmap(
    lambda places: st.decimals(
        min_value=-(10**12), max_value=10**12, places=places, allow_nan=False, allow_infinity=False
    )
)
URLS = st.builds(
    "https://{}.example.jp/{}?t={}".format,
    st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
    st.from_regex(r"[a-z0-9/_-]{0,12}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9]{0,8}", fullmatch=True),
)
_CONTACT_IN_PROPERTIES = st.fixed_dictionaries(
    {"line_user_id": st.from_regex(r"U[0-9a-f]{8}", fullmatch=True)},
    optional={"member_rank": st.sampled_from(["gold", "regular"])},
)
_SPECIAL: dict[tuple[type[BaseModel], str], st.SearchStrategy[Any]] = {
    # v1 snapshots carried the LINE user id in traits.properties: sometimes send one.
    (ProfileTraits, "properties"): st.none()
    | st.dictionaries(st.text(max_size=8), JSON, max_size=3)
    | _CONTACT_IN_PROPERTIES,
}


def _constraints(metadata: typing.Iterable[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in metadata:
        for name in ("min_length", "max_length", "ge", "gt", "le", "lt", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
        if isinstance(item, annotated_types.Interval):
            found.update({k: v for k, v in vars(item).items() if v is not None})
    return found


def _strings(limits: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = limits.get("min_length", 0), limits.get("max_length", 24)
    if "pattern" in limits:
        return st.from_regex(limits["pattern"], fullmatch=True).filter(
            lambda s: low <= len(s) <= high
        )
    return st.text(min_size=low, max_size=min(high, 24))


def _integers(limits: dict[str, Any]) -> st.SearchStrategy[int]:
    low = limits.get("ge", limits["gt"] + 1 if "gt" in limits else -MAX_INT - 1)
    high = limits.get("le", limits["lt"] - 1 if "lt" in limits else MAX_INT)
    return st.integers(low, high) | st.integers(max(low, 0), min(high, 50))


def for_annotation(tp: Any, metadata: typing.Iterable[Any] = ()) -> st.SearchStrategy[Any]:
    """Values a field annotated ``tp`` (with constraints ``metadata``) accepts."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return for_annotation(args[0], [*metadata, *tp.__metadata__])
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_annotation(a, metadata) for a in args])
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(for_annotation(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=10), for_annotation(args[1]), max_size=3)
    if tp is typing.Any:
        return JSON
    if tp is type(None):
        return st.none()
    return _scalar(tp, _constraints(metadata))


def _scalar(tp: Any, limits: dict[str, Any]) -> st.SearchStrategy[Any]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return model_payloads(tp)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(list(tp)) | st.sampled_from([m.value for m in tp])
    simple: dict[Any, st.SearchStrategy[Any]] = {
        AwareDatetime: AWARE,
        datetime: AWARE,
        date: st.dates(),
        Decimal: DECIMALS,
        bool: st.booleans(),
        float: st.floats(allow_nan=False, allow_infinity=False),
        HttpUrl: URLS,
    }
    if tp in simple:
        return simple[tp]
    if tp is int:
        return _integers(limits)
    if tp is str:
        return _strings(limits)
    raise NotImplementedError(f"no strategy for {tp!r}: teach event_strategies.py")


def model_payloads(cls: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Input dicts for ``cls``: every required field, each optional one or not."""
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, info in cls.model_fields.items():
        special = _SPECIAL.get((cls, name))
        strategy = (
            special if special is not None else for_annotation(info.annotation, info.metadata)
        )
        (required if info.is_required() else optional)[name] = strategy
    payloads = st.fixed_dictionaries(required, optional=optional)
    if cls.model_config.get("extra") != "allow":
        return payloads
    extras = st.dictionaries(
        st.text(min_size=1, max_size=10).filter(lambda k: k not in cls.model_fields),
        JSON,
        max_size=2,
    )
    return st.tuples(payloads, extras).map(lambda pe: {**pe[1], **pe[0]})


@st.composite
def events(draw: st.DrawFn, cls: type[BaseModel] | None = None) -> Any:
    """A canonical event of class ``cls`` (any class when None), validated at the door."""
    chosen = cls or draw(st.sampled_from(list(EVENT_TYPES.values())))
    payload = draw(model_payloads(chosen))
    try:
        return chosen.model_validate(payload)
    except ValidationError:  # a combination the door refuses (rare): not an event
        from hypothesis import reject

        reject()


def same(a: Any, b: Any) -> bool:
    """Equal, and indistinguishable to a consumer: classes, set fields, extras,
    timestamp offsets and tz classes, Decimal spellings, dict key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, BaseModel):
        return (
            a.model_fields_set == b.model_fields_set
            and same(a.__dict__, b.__dict__)
            and same(a.__pydantic_extra__, b.__pydantic_extra__)
        )
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset() and type(a.tzinfo) is type(b.tzinfo)
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    return bool(a == b)
