"""The customer page as a marketer reads it (pure: no I/O).

A profile's attributes, identifiers, consents and traits are grouped (contact,
consent, purchases, RFM, engagement, other) under labels the templates translate;
each value carries a kind (money, instant, date, count, percent, list ...) the
template formats in the tenant's currency and time zone. The timeline becomes one
line per real fact: an event the profile saw again with the same type and summary
(a customer update delivered by a webhook and an import, say) is one line with how
many times it came.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Field = tuple[str, str, str]  # (key, label msgid, kind)

CONTACT: tuple[Field, ...] = (
    ("name", "Name", "text"),
    ("name_kana", "Name (kana)", "text"),
    ("email", "Email", "text"),
    ("phone", "Phone", "text"),
    ("birthday", "Birthday", "date"),
    ("gender", "Gender", "word"),
    ("address", "Address", "address"),
    ("tags", "Tags", "list"),
)
PURCHASES: tuple[Field, ...] = (
    ("orders_count", "Orders", "count"),
    ("total_spent", "Total spent", "money"),
    ("average_order_value", "Average order value", "money"),
    ("first_order_at", "First order", "instant"),
    ("last_order_at", "Last order", "instant"),
    ("days_since_last_order", "Days since the last order", "count"),
    ("average_days_between_orders", "Average days between orders", "number"),
    ("expected_next_order_at", "Next order expected", "date"),
    ("acquisition", "Acquired through", "acquisition"),
    ("top_categories", "Top categories", "list"),
)
RFM: tuple[Field, ...] = (
    ("rfm_rank", "RFM rank", "code"),
    ("rfm_recency", "Recency score", "count"),
    ("rfm_frequency", "Frequency score", "count"),
    ("rfm_monetary", "Monetary score", "count"),
    ("f_stage", "F stage", "code"),
    ("churn_risk", "Churn risk", "percent"),
)
ENGAGEMENT: tuple[Field, ...] = (
    ("last_opened_at", "Last opened", "instant"),
    ("last_clicked_at", "Last clicked", "instant"),
    ("unengaged_marketing_sends", "Marketing messages without a reaction", "count"),
    ("subscription_status", "Subscription", "word"),
    ("subscription_cycle", "Subscription deliveries", "count"),
)
SHOWN = {key for group in (PURCHASES, RFM, ENGAGEMENT) for key, _, _ in group}
# Bookkeeping the page shows elsewhere (consent) or not at all; free-form properties
# hold whatever a shop put there, so they stay off the page.
HIDDEN_TRAITS = {
    "currency",
    "deleted",
    "redacted",
    "has_email",
    "has_phone",
    "email_domain",
    "country_code",
    "prefecture",
    "properties",
}
HIDDEN_PREFIXES = ("consent_", "contactable_", "suppressed_", "acquisition_", "address_")


@dataclass(frozen=True)
class Row:
    label: str  # a msgid; the template translates it
    value: Any
    kind: str


@dataclass(frozen=True)
class Group:
    key: str  # contact, purchases, rfm, engagement, other
    title: str  # a msgid
    rows: list[Row]


@dataclass(frozen=True)
class Line:
    """One timeline fact: ``what`` is a msgid with ``args``; ``times`` >= 1."""

    at: str
    type: str
    what: str
    args: dict[str, Any] = field(default_factory=dict)
    times: int = 1


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def _name(attributes: Mapping[str, Any], last: str, first: str) -> str:
    return " ".join(str(attributes[k]) for k in (last, first) if attributes.get(k)).strip()


def _acquisition(traits: Mapping[str, Any]) -> Any:
    """The traits' ``acquisition`` or its flattened ``acquisition_*`` keys as one map."""
    if traits.get("acquisition"):
        return traits["acquisition"]
    flat = {k.removeprefix("acquisition_"): v for k, v in traits.items()}
    found = {k: v for k, v in flat.items() if k in _ACQUISITION and _present(v)}
    return found or None


_ACQUISITION = ("source_name", "utm_source", "utm_medium", "utm_campaign", "referring_site")


def contact_values(profile: Mapping[str, Any]) -> dict[str, Any]:
    attributes = dict(profile.get("attributes") or {})
    traits = profile.get("traits") or {}
    identifiers = profile.get("identifiers") or []
    by_kind: dict[str, list[str]] = {}
    for ident in identifiers:
        by_kind.setdefault(str(ident.get("kind")), []).append(str(ident.get("value")))
    email = attributes.get("email") or next(iter(by_kind.get("email", [])), None)
    phone = attributes.get("phone") or next(iter(by_kind.get("phone", [])), None)
    return {
        "name": _name(attributes, "last_name", "first_name"),
        "name_kana": _name(attributes, "last_name_kana", "first_name_kana"),
        "email": email,
        "phone": phone,
        "birthday": attributes.get("birthday"),
        "gender": attributes.get("gender"),
        "address": attributes.get("address") or traits.get("prefecture"),
        "tags": attributes.get("tags"),
    }


def _rows(fields: Iterable[Field], values: Mapping[str, Any]) -> list[Row]:
    shown = [(key, label, kind) for key, label, kind in fields if _present(values.get(key))]
    return [Row(label, values[key], kind) for key, label, kind in shown]


def groups(profile: Mapping[str, Any]) -> list[Group]:
    """The profile's facts in the page's groups; empty groups are left out, traits no
    group names go to "Other" under their own key."""
    traits = dict(profile.get("traits") or {})
    if traits.get("subscription_status") in (None, "none"):  # never subscribed
        traits.pop("subscription_status", None)
        traits.pop("subscription_cycle", None)
    traits["acquisition"] = _acquisition(traits)
    other = {
        k: v
        for k, v in traits.items()
        if k not in SHOWN
        and k not in HIDDEN_TRAITS
        and not k.startswith(HIDDEN_PREFIXES)
        and _present(v)
    }
    found = [
        Group("contact", "Contact", _rows(CONTACT, contact_values(profile))),
        Group("purchases", "Purchases", _rows(PURCHASES, traits)),
        Group("rfm", "RFM", _rows(RFM, traits)),
        Group("engagement", "Engagement", _rows(ENGAGEMENT, traits)),
        Group("other", "Other traits", [Row(k, v, "raw") for k, v in sorted(other.items())]),
    ]
    return [g for g in found if g.rows]


def display_name(profile: Mapping[str, Any]) -> str:
    values = contact_values(profile)
    return str(values["name"] or values["email"] or values["phone"] or "")


def _order_args(summary: Mapping[str, Any]) -> dict[str, Any]:
    number = summary.get("order_number") or summary.get("order_id") or ""
    amount, currency = summary.get("total"), summary.get("currency")
    return {"number": str(number), "amount": amount, "currency": currency}


def _line(entry: Mapping[str, Any]) -> Line:
    kind = str(entry.get("type") or "")
    summary = entry.get("summary")
    s: Mapping[str, Any] = summary if isinstance(summary, Mapping) else {}
    at = str(entry.get("occurred_at") or "")
    what, args = _describe(kind, s)
    return Line(at=at, type=kind, what=what, args=args)


def _describe(kind: str, s: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if kind == "order.refunded":
        return kind, _refund_args(s)
    if kind.startswith("order."):
        return kind, _order_args(s)
    if kind in ("checkout.started", "checkout.updated"):
        return kind, {"amount": s.get("total"), "currency": s.get("currency")}
    if kind == "cart.updated":
        return kind, {"lines": s.get("lines")}
    if kind == "customer.upserted":
        return kind, {"fields": list(s.get("fields") or [])}
    if kind == "consent.changed":
        return kind, {"channel": s.get("channel"), "state": s.get("state")}
    if kind.startswith("message."):
        return kind, {"channel": s.get("channel"), "reason": s.get("reason")}
    if kind.startswith("subscription."):
        return kind, {"status": s.get("status")}
    if kind == "custom":
        return kind, {"name": s.get("name")}
    return kind, dict(s)


def _refund_args(summary: Mapping[str, Any]) -> dict[str, Any]:
    amount, currency = summary.get("amount"), summary.get("currency")
    return {"number": str(summary.get("order_id") or ""), "amount": amount, "currency": currency}


def timeline(entries: Iterable[Mapping[str, Any]]) -> list[Line]:
    """One line per fact, newest first as given: an entry with the same type and
    summary as the line before it is counted on that line, not repeated."""
    lines: list[Line] = []
    for entry in entries:
        line = _line(entry)
        if lines and (lines[-1].type, lines[-1].args) == (line.type, line.args):
            last = lines[-1]
            lines[-1] = Line(last.at, last.type, last.what, last.args, last.times + 1)
            continue
        lines.append(line)
    return lines
