"""Hypothesis strategies for segment definitions and profiles (shared by unit and
integration tests; both conftests put this folder on sys.path).

Values cluster around a fixed NOW on whole days and hours so that boundaries
(exactly 90 days ago, an event exactly leaving a window) come up often, and
stored values are deliberately messy: numbers as strings, timestamps in other
offsets, nulls, wrong types, flat and nested property keys.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from crm_segment.domain.evaluate import EventView, ProfileView

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
JST = timezone(timedelta(hours=9))
TIME_FIELDS = ("last_order_at", "first_order_at", "score")
TRAIT_FIELDS = (
    "orders_count",
    "total_spent",
    "rfm_rank",
    "rfm_recency",
    "f_stage",
    "tags",
    "email",
    "consent_email",
    "properties.vip",
    *TIME_FIELDS,
)
TEXTS = ("A", "B", "C", "tea", "green tea", "vip", "vip_gold", "F1", "F2", "F3+", "subscribed")
TEXTS += ("never", "5000", "東京都", "a")
EVENT_TYPES = ("order.placed", "checkout.started")
SEGMENTS = ("seg_a", "seg_b")
FILTER_FIELDS = ("category", "product_id", "sku", "quantity", "amount", "currency")
FILTER_FIELDS += ("line.unit_price.amount",)

BOUNDARY_DAYS = (1, 30, 90)
_boundary_offsets = st.sampled_from((0, *(-d for d in BOUNDARY_DAYS))).map(
    lambda d: timedelta(days=d)
)
offsets = st.one_of(
    _boundary_offsets,
    _boundary_offsets,
    _boundary_offsets,
    st.integers(-120, 5).map(lambda d: timedelta(days=d)),
    st.integers(-120 * 24, 5 * 24).map(lambda h: timedelta(hours=h)),
    st.integers(-10_000, 10_000).map(lambda s: timedelta(seconds=s)),
)
instants = offsets.map(lambda delta: NOW + delta)


def _format(moment: datetime, style: int) -> str:
    if style == 0:
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if style == 1:
        return moment.astimezone(JST).isoformat()
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


timestamps = st.builds(_format, instants, st.integers(0, 2))
decimal_texts = st.builds(lambda i, f: f"{i}.{f:02d}", st.integers(0, 9000), st.integers(0, 99))
numbers = st.one_of(st.integers(0, 10_000), decimal_texts, st.sampled_from(["5000", "5000.0"]))
texts = st.sampled_from(TEXTS)
KIND_VALUES = {"number": numbers, "datetime": timestamps, "string": texts}
messy = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    timestamps,
    texts,
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from(["2025-02-30T00:00:00Z", "abc", "1e3", " 12", "2025-06-15"]),
    st.lists(texts, max_size=3),
)


@st.composite
def trait_leaf(draw: st.DrawFn, field: str | None = None) -> dict[str, Any]:
    """A trait condition (or event filter body) with operands fitting its operator."""
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "between", "in", "not_in"]))
    op = draw(st.sampled_from([op, op, "contains", "exists", "not_exists"]))
    fields = st.sampled_from((*TRAIT_FIELDS, "properties.vip", "tags", "email"))
    node: dict[str, Any] = {"trait": field or draw(fields), "op": op}
    if op in ("exists", "not_exists"):
        return node
    if op == "contains":
        return {**node, "value": draw(texts)}
    kind = draw(st.sampled_from(["number", "datetime", "string", "boolean"]))
    if kind == "boolean" or (kind == "string" and draw(st.booleans())):
        return _typed_leaf(draw, node, kind)
    values = KIND_VALUES[kind]
    if op == "between":
        pair = draw(st.lists(values, min_size=2, max_size=2))
        return {**node, "value": sorted(pair, key=_sort_key(kind))}
    if op in ("in", "not_in"):
        return {**node, "value": draw(st.lists(values, min_size=1, max_size=3))}
    return {**node, "value": draw(values)}


def _typed_leaf(draw: st.DrawFn, node: dict[str, Any], kind: str) -> dict[str, Any]:
    op = node["op"]
    if kind == "boolean":
        op = draw(st.sampled_from(["=", "!=", "in", "not_in"]))
        value: Any = draw(st.booleans())
        return {**node, "op": op, "value": [value] if op in ("in", "not_in") else value}
    if op == "between":
        value = sorted(draw(st.lists(texts, min_size=2, max_size=2)))
    else:
        value = (
            draw(st.lists(texts, min_size=1, max_size=3)) if op in ("in", "not_in") else draw(texts)
        )
    return {**node, "type": "string", "value": value}


def _sort_key(kind: str) -> Any:
    if kind == "number":
        from decimal import Decimal

        return lambda v: Decimal(str(v))
    if kind == "datetime":
        return datetime.fromisoformat
    return lambda v: v


durations = st.one_of(
    st.sampled_from(BOUNDARY_DAYS).map(lambda d: {"days": d}),
    st.sampled_from(BOUNDARY_DAYS).map(lambda d: {"days": d}),
    st.builds(
        lambda d, h: {"days": d, "hours": h} if h else {"days": d},
        st.integers(0, 100),
        st.integers(0, 23),
    ).filter(lambda d: d["days"] or d.get("hours")),
)


@st.composite
def time_leaf(draw: st.DrawFn) -> dict[str, Any]:
    node: dict[str, Any] = {"time": draw(st.sampled_from(TIME_FIELDS))}
    form = draw(st.sampled_from(["older_than", "within", "between"]))
    if form != "between":
        return {**node, form: draw(durations)}
    start, end = sorted(draw(st.lists(instants, min_size=2, max_size=2, unique=True)))
    return {**node, "between": [start.isoformat(), end.isoformat()]}


@st.composite
def event_leaf(draw: st.DrawFn) -> dict[str, Any]:
    node: dict[str, Any] = {"event": draw(st.sampled_from(EVENT_TYPES))}
    node["performed"] = draw(st.booleans())
    filters = draw(st.lists(st.sampled_from(FILTER_FIELDS).flatmap(trait_leaf), max_size=2))
    node["where"] = [
        {"field": f["trait"], **{k: v for k, v in f.items() if k != "trait"}} for f in filters
    ]
    ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
    node["count"] = {"op": draw(ops), "value": draw(st.integers(0, 3))}
    window = draw(st.sampled_from(["none", "last", "absolute"]))
    if window == "last":
        node["window"] = {"last": draw(durations)}
    elif window == "absolute":
        start, end = sorted(draw(st.lists(instants, min_size=2, max_size=2, unique=True)))
        node["window"] = {"from": start.isoformat(), "to": end.isoformat()}
    return node


shorthand_leaf = st.one_of(
    st.builds(
        lambda v: {"rfm": "rank", "op": "in", "value": v},
        st.lists(st.sampled_from("ABCDE"), min_size=1, max_size=2),
    ),
    st.builds(
        lambda o, v: {"rfm": "recency", "op": o, "value": v},
        st.sampled_from(["=", ">=", "<"]),
        st.integers(1, 5),
    ),
    st.builds(lambda v: {"f_stage": v}, st.sampled_from(["F1", "F2", ["F2", "F3+"]])),
    st.builds(
        lambda s: {"consent": "email", "state": s},
        st.sampled_from(["subscribed", "never", ["unsubscribed", "never"]]),
    ),
    st.builds(lambda s: {"segment": s}, st.sampled_from(SEGMENTS)),
)

leaves = st.one_of(trait_leaf(), time_leaf(), event_leaf(), shorthand_leaf)
definitions_json = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"all": c}),
        st.lists(children, min_size=1, max_size=3).map(lambda c: {"any": c}),
        children.map(lambda c: {"not": c}),
    ),
    max_leaves=6,
)


@st.composite
def traits(draw: st.DrawFn) -> dict[str, Any]:
    """A messy traits snapshot; ``properties.vip`` appears flat, nested or both."""
    result: dict[str, Any] = {}
    for field in TRAIT_FIELDS:
        if not draw(st.integers(0, 3)):  # absent about a quarter of the time
            continue
        plausible = KIND_VALUES[_plausible_kind(field)]
        value = draw(st.one_of(plausible, plausible, plausible, messy))
        if field == "properties.vip" and draw(st.booleans()):
            result["properties"] = {"vip": value, "note": draw(texts)}
            if draw(st.booleans()):
                result["properties.vip"] = draw(messy)
        else:
            result[field] = value
    return result


def _plausible_kind(field: str) -> str:
    if field in TIME_FIELDS:
        return "datetime"
    return "number" if field in ("orders_count", "total_spent", "rfm_recency") else "string"


lines = st.fixed_dictionaries(
    {"product_id": st.sampled_from(["P1", "P2"]), "category": st.sampled_from(["tea", "coffee"])},
    optional={
        "sku": st.sampled_from(["S1", "S2"]),
        "quantity": st.integers(0, 3),
        "unit_price": st.builds(lambda a: {"amount": a, "currency": "JPY"}, numbers),
    },
)
event_properties = st.fixed_dictionaries(
    {"currency": st.sampled_from(["JPY", "USD"])},
    optional={
        "total": st.one_of(numbers, messy),
        "lines": st.one_of(st.lists(st.one_of(lines, lines, texts), max_size=3), texts),
    },
)
events = st.builds(EventView, st.sampled_from(EVENT_TYPES), instants, event_properties)
profiles = st.builds(
    ProfileView,
    traits(),
    st.lists(events, max_size=4).map(tuple),
    st.frozensets(st.sampled_from(SEGMENTS)),
)


_edges = st.sampled_from(
    [timedelta(0), timedelta(microseconds=1), timedelta(microseconds=-1), timedelta(seconds=-1)]
)


@st.composite
def boundary_cases(draw: st.DrawFn) -> tuple[dict[str, Any], list[ProfileView]]:
    """A time-dependent leaf and profiles placed right at its boundary (``now - d``)."""
    duration = draw(durations)
    span = timedelta(days=duration["days"], hours=duration.get("hours", 0))
    moments = [NOW - span + edge for edge in draw(st.lists(_edges, min_size=1, max_size=4))]
    form = draw(st.sampled_from(["older_than", "within", "event"]))
    if form == "event":
        count = {"op": draw(st.sampled_from([">=", "=", "<"])), "value": draw(st.integers(0, 2))}
        leaf: dict[str, Any] = {
            "event": "order.placed",
            "count": count,
            "window": {"last": duration},
        }
        views = [
            ProfileView({}, tuple(EventView("order.placed", m) for m in moments[:k]))
            for k in range(len(moments) + 1)
        ]
    else:
        leaf = {"time": "last_order_at", form: duration}
        style = draw(st.integers(0, 2))
        views = [ProfileView({"last_order_at": _format(m, style)}) for m in moments]
    other = draw(leaves)
    wrapped = draw(
        st.sampled_from([leaf, {"not": leaf}, {"all": [leaf, other]}, {"any": [leaf, other]}])
    )
    return wrapped, views
