"""Merging two profiles' attributes and permissions when their records become one.

Both are joins of the per-field stamps, so the result does not depend on which
record survives or on the order of merges: the newer stamp wins per field (per
key for custom properties, per channel for consent), suppressions combine, and
an erasure on either side keeps erasing on the merged record.
"""

from __future__ import annotations

from typing import Any

from crm_profile.domain.attributes import Attributes, Property
from crm_profile.domain.consent import ConsentRecord, Permissions, Suppression
from crm_profile.domain.redaction import redact
from crm_profile.domain.versions import Stamped, latest

_STAMPED_FIELDS = (
    "first_name",
    "last_name",
    "first_name_kana",
    "last_name_kana",
    "email",
    "phone",
    "gender",
    "birthday",
    "address",
    "tags",
)


def merge_attributes(a: Attributes, b: Attributes) -> Attributes:
    """The attributes of the merged record (commutative, associative, idempotent)."""
    update: dict[str, Any] = {
        name: _newer(getattr(a, name), getattr(b, name)) for name in _STAMPED_FIELDS
    }
    update["properties"] = _merge_properties(a.properties, b.properties)
    update["erased_through"] = latest(a.erased_through, b.erased_through)
    merged = a.model_copy(update=update)
    if merged.erased_through is None:
        return merged
    return redact(merged, merged.erased_through)


def merge_permissions(a: Permissions, b: Permissions) -> Permissions:
    """Consents by the newest statement per channel; suppressions combined."""
    by_channel: dict[str, ConsentRecord] = {c.channel: c for c in a.consents}
    for record in b.consents:
        known = by_channel.get(record.channel)
        if known is None or record.key() > known.key():
            by_channel[record.channel] = record
    by_key: dict[tuple[str, str], Suppression] = {s.key(): s for s in a.suppressions}
    for seen in b.suppressions:
        known_s = by_key.get(seen.key())
        by_key[seen.key()] = seen if known_s is None else _combine(known_s, seen)
    return Permissions(
        consents=tuple(by_channel[c] for c in sorted(by_channel)),
        suppressions=tuple(by_key[k] for k in sorted(by_key)),
    )


def _newer(a: Stamped[Any] | None, b: Stamped[Any] | None) -> Stamped[Any] | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b.stamp.newer_than(a.stamp) else a


def _merge_properties(a: tuple[Property, ...], b: tuple[Property, ...]) -> tuple[Property, ...]:
    by_key = {p.key: p for p in a}
    for prop in b:
        known = by_key.get(prop.key)
        if known is None or prop.stamp.newer_than(known.stamp):
            by_key[prop.key] = prop
    return tuple(by_key[k] for k in sorted(by_key))


def _combine(a: Suppression, b: Suppression) -> Suppression:
    lifted = [t for t in (a.lifted_at, b.lifted_at) if t is not None]
    return a.model_copy(
        update={
            "first_at": min(a.first_at, b.first_at),
            "last_at": max(a.last_at, b.last_at),
            "lifted_at": max(lifted) if lifted else None,
        }
    )
