"""Hand-written evaluation cases with their exact expected result at NOW.

The unit tests run them through the in-memory evaluator; the integration tests
run the same table through PostgreSQL, so both evaluators must give exactly
these answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm_segment.domain.evaluate import EventView, ProfileView

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def ago(days: int = 0, **more: int) -> datetime:
    return NOW - timedelta(days=days, **more)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def order(days_ago: int, total: Any = "3000", *lines: dict[str, Any]) -> EventView:
    return EventView("order.placed", ago(days_ago), {"total": total, "lines": list(lines)})


def t(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    node = {"trait": field, "op": op, **extra}
    return node if value is None else {**node, "value": value}


TEA = {"product_id": "P1", "category": "tea", "sku": "T-1", "quantity": 2}
COFFEE = {"product_id": "P2", "category": "coffee", "sku": "C-1", "quantity": 1}
NESTED = {"properties": {"vip": "gold"}}
BOTH = {"properties": {"vip": "gold"}, "properties.vip": "silver"}
FLAT_NULL = {"properties": {"vip": "gold"}, "properties.vip": None}

# (id, definition, profile, expected)
CASES: list[tuple[str, dict[str, Any], ProfileView, bool]] = [
    (
        "number-string-ge",
        t("total_spent", ">=", 5000),
        ProfileView({"total_spent": "5000.00"}),
        True,
    ),
    ("number-json-lt", t("total_spent", "<", "5000"), ProfileView({"total_spent": 4999.5}), True),
    ("number-not-numeric", t("total_spent", ">=", 0), ProfileView({"total_spent": "1e3"}), False),
    (
        "number-too-long",  # past 255 digits: not a number (nor cast by PostgreSQL)
        t("total_spent", ">=", 0),
        ProfileView({"total_spent": "9" * 256}),
        False,
    ),
    ("number-longest", t("total_spent", ">=", 0), ProfileView({"total_spent": "9" * 255}), True),
    (
        "number-longest-both-sides",
        t("total_spent", "<", 0),
        ProfileView({"total_spent": "-" + "9" * 255 + "." + "9" * 255}),
        True,
    ),
    (
        "number-fraction-too-long",
        t("total_spent", ">=", 0),
        ProfileView({"total_spent": "1." + "9" * 256}),
        False,
    ),
    ("number-two-minus", t("total_spent", "<", 0), ProfileView({"total_spent": "--5"}), False),
    ("number-two-dots", t("total_spent", ">=", 0), ProfileView({"total_spent": "1.2.3"}), False),
    ("number-bare-dot", t("total_spent", ">=", 0), ProfileView({"total_spent": "1."}), False),
    ("number-bool-is-not", t("orders_count", "=", 1), ProfileView({"orders_count": True}), False),
    ("ne-missing-false", t("rfm_rank", "!=", "A"), ProfileView({}), False),
    ("ne-null-false", t("rfm_rank", "!=", "A"), ProfileView({"rfm_rank": None}), False),
    ("ne-other-kind-false", t("rfm_rank", "!=", "A"), ProfileView({"rfm_rank": 3}), False),
    ("ne-present-true", t("rfm_rank", "!=", "A"), ProfileView({"rfm_rank": "B"}), True),
    ("not-eq-missing-true", {"not": t("rfm_rank", "=", "A")}, ProfileView({}), True),
    ("not-in-missing-false", t("rfm_rank", "not_in", ["A"]), ProfileView({}), False),
    ("not-in-true", t("rfm_rank", "not_in", ["A", "B"]), ProfileView({"rfm_rank": "C"}), True),
    ("in-number", t("rfm_recency", "in", [4, 5]), ProfileView({"rfm_recency": "5"}), True),
    (
        "between-inclusive",
        t("orders_count", "between", [2, 5]),
        ProfileView({"orders_count": 5}),
        True,
    ),
    ("string-codepoint-order", t("email", "<", "a"), ProfileView({"email": "Z@x.jp"}), True),
    ("string-typed", t("zip", "=", "0123", type="string"), ProfileView({"zip": "123"}), False),
    ("string-inferred-number", t("zip", "=", "0123"), ProfileView({"zip": "123"}), True),
    (
        "datetime-offsets",
        t("last_order_at", "=", "2025-06-15T21:00:00+09:00"),
        ProfileView({"last_order_at": "2025-06-15T12:00:00Z"}),
        True,
    ),
    (
        "datetime-invalid-day",
        t("last_order_at", "exists"),
        ProfileView({"last_order_at": "2025-02-30T00:00:00Z"}),
        True,
    ),
    (
        "datetime-invalid-day-compare",
        t("last_order_at", "<", "2030-01-01T00:00:00Z"),
        ProfileView({"last_order_at": "2025-02-30T00:00:00Z"}),
        False,
    ),
    (
        "datetime-naive-ignored",
        t("last_order_at", "<", "2030-01-01T00:00:00Z"),
        ProfileView({"last_order_at": "2025-01-01T00:00:00"}),
        False,
    ),
    ("bool-eq", t("vip", "=", True), ProfileView({"vip": True}), True),
    ("bool-ne-string", t("vip", "!=", True), ProfileView({"vip": "true"}), False),
    ("contains-list", t("tags", "contains", "vip"), ProfileView({"tags": ["new", "vip"]}), True),
    (
        "contains-list-no-substring",
        t("tags", "contains", "vi"),
        ProfileView({"tags": ["vip"]}),
        False,
    ),
    (
        "contains-text",
        t("email", "contains", "@example"),
        ProfileView({"email": "a@example.jp"}),
        True,
    ),
    ("contains-number", t("tags", "contains", "5"), ProfileView({"tags": [5]}), False),
    ("exists-empty-list", t("tags", "exists"), ProfileView({"tags": []}), True),
    ("not-exists-null", t("tags", "not_exists"), ProfileView({"tags": None}), True),
    ("path-nested", t("properties.vip", "=", "gold"), ProfileView(NESTED), True),
    ("path-flat-wins", t("properties.vip", "=", "silver"), ProfileView(BOTH), True),
    ("path-flat-null-falls-back", t("properties.vip", "=", "gold"), ProfileView(FLAT_NULL), True),
    ("path-through-scalar", t("properties.vip", "exists"), ProfileView({"properties": "x"}), False),
    (
        "older-than-91",
        {"time": "last_order_at", "older_than": {"days": 90}},
        ProfileView({"last_order_at": iso(ago(91))}),
        True,
    ),
    (
        "older-than-exact",
        {"time": "last_order_at", "older_than": {"days": 90}},
        ProfileView({"last_order_at": iso(ago(90))}),
        True,
    ),
    (
        "older-than-89",
        {"time": "last_order_at", "older_than": {"days": 90}},
        ProfileView({"last_order_at": iso(ago(89))}),
        False,
    ),
    (
        "within-exact",
        {"time": "first_order_at", "within": {"days": 30}},
        ProfileView({"first_order_at": iso(ago(30))}),
        False,
    ),
    (
        "within-just-inside",
        {"time": "first_order_at", "within": {"days": 30}},
        ProfileView({"first_order_at": iso(ago(30, seconds=-1))}),
        True,
    ),
    ("within-missing", {"time": "first_order_at", "within": {"days": 30}}, ProfileView({}), False),
    (
        "time-between-half-open",
        {"time": "first_order_at", "between": ["2025-06-01", "2025-06-15"]},
        ProfileView({"first_order_at": "2025-06-15T00:00:00Z"}),
        False,
    ),
    (
        "time-between-start",
        {"time": "first_order_at", "between": ["2025-06-01", "2025-06-15"]},
        ProfileView({"first_order_at": "2025-06-01T00:00:00Z"}),
        True,
    ),
    ("event-performed", {"event": "order.placed"}, ProfileView({}, (order(400),)), True),
    (
        "event-not-performed",
        {"event": "order.placed", "performed": False},
        ProfileView({}, (order(4),)),
        False,
    ),
    (
        "event-window-exit",
        {"event": "order.placed", "window": {"last": {"days": 60}}},
        ProfileView({}, (order(60),)),
        False,
    ),
    (
        "event-category-twice",
        {
            "event": "order.placed",
            "where": [{"field": "category", "op": "=", "value": "tea"}],
            "count": {"op": ">=", "value": 2},
            "window": {"last": {"days": 60}},
        },
        ProfileView({}, (order(1, "1", TEA), order(59, "1", COFFEE, TEA), order(61, "1", TEA))),
        True,
    ),
    (
        "event-category-once",
        {
            "event": "order.placed",
            "where": [{"field": "category", "op": "=", "value": "tea"}],
            "count": {"op": ">=", "value": 2},
            "window": {"last": {"days": 60}},
        },
        ProfileView({}, (order(1, "1", TEA), order(59, "1", COFFEE))),
        False,
    ),
    (
        "event-same-line",
        {
            "event": "order.placed",
            "where": [
                {"field": "category", "op": "=", "value": "tea"},
                {"field": "sku", "op": "=", "value": "C-1"},
            ],
        },
        ProfileView({}, (order(1, "1", TEA, COFFEE),)),
        False,
    ),
    (
        "event-amount",
        {"event": "order.placed", "where": [{"field": "amount", "op": ">=", "value": 10000}]},
        ProfileView({}, (order(1, "9999"), order(2, 10000))),
        True,
    ),
    (
        "event-count-eq-0",
        {"event": "order.placed", "count": {"op": "=", "value": 0}},
        ProfileView({}),
        True,
    ),
    (
        "event-absolute",
        {"event": "order.placed", "window": {"from": "2025-06-01", "to": "2025-06-14"}},
        ProfileView({}, (order(1),)),
        False,
    ),
    (
        "event-bad-lines",
        {"event": "order.placed", "where": [{"field": "category", "op": "not_exists"}]},
        ProfileView({}, (EventView("order.placed", ago(1), {"lines": ["x"]}),)),
        True,
    ),
    (
        "event-no-lines",
        {"event": "order.placed", "where": [{"field": "category", "op": "not_exists"}]},
        ProfileView({}, (EventView("order.placed", ago(1), {"lines": "x"}),)),
        False,
    ),
    (
        "rfm-rank",
        {"rfm": "rank", "op": "in", "value": ["A", "B"]},
        ProfileView({"rfm_rank": "B"}),
        True,
    ),
    ("f-stage", {"f_stage": ["F2", "F3+"]}, ProfileView({"f_stage": "F3+"}), True),
    ("consent-never-missing", {"consent": "sms", "state": "never"}, ProfileView({}), True),
    ("consent-subscribed-missing", {"consent": "sms"}, ProfileView({}), False),
    (
        "consent-line",
        {"consent": "line", "state": "subscribed"},
        ProfileView({"consent_line": "subscribed"}),
        True,
    ),
    ("segment-member", {"segment": "seg_a"}, ProfileView({}, (), frozenset({"seg_a"})), True),
    ("segment-exited", {"segment": "seg_b"}, ProfileView({}, (), frozenset()), False),
    (
        "any-all-not",
        {"any": [{"all": [t("a", "=", 1), t("b", "=", 2)]}, {"not": t("c", "exists")}]},
        ProfileView({"a": 1, "b": 3, "c": 0}),
        False,
    ),
]
