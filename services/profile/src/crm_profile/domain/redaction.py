"""Erasure of personal data (GDPR / APPI requests, Shopify ``customers/redact``)."""

from __future__ import annotations

from crm_profile.domain.attributes import PERSONAL_FIELDS, Attributes
from crm_profile.domain.versions import Stamp, Stamped, latest


def redact(attributes: Attributes, through: Stamp | None = None) -> Attributes:
    """Attributes without personal data (:data:`PERSONAL_FIELDS` and custom properties).

    Gender and tags are kept; orders and traits live elsewhere and hold no
    personal data, so the anonymous aggregates survive.

    Without ``through`` every personal field is cleared. With ``through`` (the
    stamp of the redaction request) only values written at or before it are
    cleared, and later-arriving writes stamped at or before it are ignored from
    then on, so the result does not depend on when the request was processed.
    """
    update: dict[str, object] = {
        name: _erase(getattr(attributes, name), through) for name in PERSONAL_FIELDS
    }
    update["properties"] = tuple(
        p for p in attributes.properties if through is not None and p.stamp.newer_than(through)
    )
    update["erased_through"] = latest(attributes.erased_through, through)
    return attributes.model_copy(update=update)


def _erase(field: Stamped[object] | None, through: Stamp | None) -> Stamped[object] | None:
    if field is None or through is None or not field.stamp.newer_than(through):
        return None
    return field
