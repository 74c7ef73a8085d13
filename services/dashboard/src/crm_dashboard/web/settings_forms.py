"""The settings forms <-> the services' settings JSON (pure: no I/O).

Messaging's ``GET /v1/settings`` answers the whole settings document (provider
secrets masked); a form edits part of it and the console sends the whole document
back with ``PUT``, so fields no form shows (consent model, quiet-hour purposes) are
kept as they are. A provider secret left empty is sent as the mask, which messaging
reads as "keep the stored one": the form never holds a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import TypeAdapter, ValidationError

CHANNELS = ("email", "sms", "line", "postal_dm", "call")
MASK = "********"
_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)
_CAP = re.compile(r"^cap-(\d{1,3})-(channel|max|days|remove)$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class FormError(ValueError):
    """Fields the form cannot send as they are: ``[{"path", "message"}]``."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{d['path']}: {d['message']}" for d in details))
        self.details = details


def days_of(window: Any) -> str:
    """A cap window as the form shows it: ``"P7D"`` -> ``"7"``, 12 hours -> ``"0.5"``."""
    try:
        seconds = Decimal(int(_DURATION.validate_python(window).total_seconds()))
    except ValidationError:
        return ""
    days = (seconds / 86400).normalize()
    return format(days, "f")


def caps_rows(settings: Mapping[str, Any]) -> list[dict[str, str]]:
    """The caps as form rows, plus one empty row to add a cap."""
    rows = [
        {
            "channel": cap.get("channel") or "",
            "max": str(cap.get("max_messages", "")),
            "days": days_of(cap.get("window")),
        }
        for cap in settings.get("frequency_caps") or []
    ]
    return [*rows, {"channel": "", "max": "", "days": ""}]


def _number(text: str, path: str, errors: list[dict[str, str]], *, whole: bool) -> Any:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        errors.append({"path": path, "message": "a number"})
        return None
    if value < 0 or (whole and value != value.to_integral_value()):
        errors.append(
            {"path": path, "message": "a whole number, 0 or more" if whole else "0 or more"}
        )
        return None
    return int(value) if whole else value


def _caps(form: Mapping[str, str], errors: list[dict[str, str]]) -> list[dict[str, Any]]:
    rows: dict[int, dict[str, str]] = {}
    for name, value in form.items():
        match = _CAP.match(name)
        if match:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = value
    caps = []
    for index in sorted(rows):
        row = rows[index]
        if row.get("remove") or not (row.get("max", "").strip() or row.get("days", "").strip()):
            continue
        channel = row.get("channel") or None
        if channel is not None and channel not in CHANNELS:
            errors.append({"path": f"cap-{index}-channel", "message": "unknown channel"})
        most = _number(row.get("max", ""), f"cap-{index}-max", errors, whole=True)
        days = _number(row.get("days", ""), f"cap-{index}-days", errors, whole=False)
        if days is not None and days <= 0:
            errors.append({"path": f"cap-{index}-days", "message": "more than 0 days"})
        elif most is not None and days is not None:
            seconds = int(days * 86400)
            caps.append({"channel": channel, "max_messages": most, "window": seconds})
    return caps


def _quiet_hours(form: Mapping[str, str], errors: list[dict[str, str]]) -> dict[str, Any]:
    hours = {}
    for channel in CHANNELS:
        start = form.get(f"quiet-{channel}-start", "").strip()
        end = form.get(f"quiet-{channel}-end", "").strip()
        if not start and not end:
            continue
        for path, value in ((f"quiet-{channel}-start", start), (f"quiet-{channel}-end", end)):
            if not _TIME.match(value):
                errors.append({"path": path, "message": "a time such as 21:00"})
        if start == end and _TIME.match(start):
            errors.append({"path": f"quiet-{channel}-end", "message": "differs from the start"})
        hours[channel] = {"start": start, "end": end}
    return hours


def _optional(form: Mapping[str, str], name: str) -> str | None:
    return form.get(name, "").strip() or None


def messaging_from_form(current: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """The settings document with the general form's fields replaced."""
    errors: list[dict[str, str]] = []
    sender = {
        "from_name": form.get("from_name", "").strip(),
        "from_address": _optional(form, "from_address"),
        "reply_to": _optional(form, "reply_to"),
        "unsubscribe_mailto": _optional(form, "unsubscribe_mailto"),
        "bounce_domain": _optional(form, "bounce_domain"),
    }
    attribution = dict(current.get("attribution") or {})
    for name in ("email_days", "sms_days", "line_days", "postal_dm_days"):
        field = f"attribution-{name}"
        if form.get(field, "").strip():  # an empty field keeps the current window
            value = _number(form[field], field, errors, whole=False)
            attribution[name] = str(value) if value is not None else None
    document = {
        **current,
        "sender": sender,
        "frequency_caps": _caps(form, errors),
        "quiet_hours": _quiet_hours(form, errors),
        "attribution": attribution,
    }
    if errors:
        raise FormError(errors)
    return document


def _provider(
    form: Mapping[str, str],
    prefix: str,
    fields: tuple[str, ...],
    secret: str,
    stored: Any,
    errors: list[dict[str, str]],
) -> dict[str, Any] | None:
    if form.get(f"{prefix}-remove"):
        return None
    values = {name: form.get(f"{prefix}-{name}", "").strip() for name in fields}
    typed = form.get(f"{prefix}-{secret}", "")
    if not any(values.values()) and not typed and not stored:
        return None
    values[secret] = typed or (MASK if stored else "")
    for name, value in values.items():
        if not value and name != "base_url":
            errors.append({"path": f"{prefix}-{name}", "message": "required"})
    account: dict[str, Any] = dict(values)
    account["base_url"] = values.get("base_url") or None
    return account


def providers_from_form(current: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """The settings document with the SMS and LINE accounts from the providers form."""
    errors: list[dict[str, str]] = []
    sms_fields = ("account_sid", "from_number", "base_url")
    sms = _provider(form, "sms", sms_fields, "auth_token", current.get("sms"), errors)
    line_secret = "channel_access_token"
    line = _provider(form, "line", ("base_url",), line_secret, current.get("line"), errors)
    if errors:
        raise FormError(errors)
    return {**current, "sms": sms, "line": line}


RFM_AXES = ("recency_days", "frequency_orders", "monetary")


def rfm_from_form(current: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """RFM thresholds: four cut points per axis (profile checks they ascend)."""
    errors: list[dict[str, str]] = []
    document = dict(current)
    for axis in RFM_AXES:
        whole = axis != "monetary"
        values = [
            _number(form.get(f"{axis}-{i}", ""), f"{axis}-{i}", errors, whole=whole)
            for i in range(4)
        ]
        document[axis] = [v if whole or v is None else str(v) for v in values]
    if errors:
        raise FormError(errors)
    return document
