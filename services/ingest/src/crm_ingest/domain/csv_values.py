"""Cell parsers for CSV imports.

Each takes the column header (for the error) and the raw cell, cleans it (NFKC:
full-width digits and letters to half-width, half-width kana to full-width; trim)
and returns a typed value, None for an empty cell, or raises a
:class:`~crm_ingest.domain.errors.NormalizationError` whose path is the column.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from crm_common.normalize import (
    clean_text,
    normalize_email,
    normalize_phone,
    normalize_postal_code,
    normalize_prefecture,
)
from crm_ingest.domain.errors import field_error
from crm_ingest.domain.money import to_amount

_DATE = r"(\d{4})-(\d{1,2})-(\d{1,2})"
_TIMESTAMP = re.compile(
    rf"^{_DATE}(?:[ T](\d{{1,2}}):(\d{{2}})(?::(\d{{2}})(?:\.\d+)?)?)?\s*(Z|[+-]\d{{2}}:?\d{{2}})?$"
)
_DATE_ONLY = re.compile(rf"^{_DATE}$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_JA_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_JA_TIME = re.compile(r"(\d{1,2})時(\d{1,2})分(?:(\d{1,2})秒)?")
_MONEY_NOISE = re.compile(r"[¥\\円,\s]")  # Shift_JIS files often show the yen sign as "\"

_TRUE = frozenset(
    {
        "1",
        "true",
        "yes",
        "y",
        "on",
        "subscribed",
        "はい",
        "する",
        "希望する",
        "受け取る",
        "購読",
        "購読する",
        "有",
        "あり",
        "○",
        "〇",
        "◯",
        "定期",
    }
)
_FALSE = frozenset(
    {
        "0",
        "false",
        "no",
        "n",
        "off",
        "unsubscribed",
        "-",
        "いいえ",
        "しない",
        "希望しない",
        "受け取らない",
        "購読しない",
        "無",
        "なし",
        "×",
    }
)
_GENDERS = {
    "男": "male",
    "男性": "male",
    "m": "male",
    "male": "male",
    "女": "female",
    "女性": "female",
    "f": "female",
    "female": "female",
    "その他": "other",
    "other": "other",
}


def text(value: str | None) -> str | None:
    """NFKC, trimmed, inner white space collapsed; empty is None."""
    return clean_text(value)


def email(column: str, value: str | None) -> str | None:
    """Lower-cased email; refuses what is not one."""
    cleaned = text(value)
    if cleaned is None:
        return None
    return normalize_email(cleaned) or _fail(column, f"not an email address: {cleaned!r}")


def phone(column: str, value: str | None, region: str) -> str | None:
    """E.164; numbers without a country code are read in ``region``."""
    cleaned = text(value)
    if cleaned is None:
        return None
    return normalize_phone(cleaned, region) or _fail(column, f"not a phone number: {cleaned!r}")


def postal_code(column: str, value: str | None) -> str | None:
    """郵便番号 as ``123-4567``."""
    cleaned = text(value)
    if cleaned is None:
        return None
    return normalize_postal_code(cleaned) or _fail(column, f"not a postal code: {cleaned!r}")


def prefecture(column: str, value: str | None) -> str | None:
    """The official prefecture name (東京 -> 東京都)."""
    cleaned = text(value)
    if cleaned is None:
        return None
    return normalize_prefecture(cleaned) or _fail(column, f"not a prefecture: {cleaned!r}")


def flag(column: str, value: str | None) -> bool | None:
    """Yes/no in the spellings Japanese cart exports use (1/0, する/しない, ○/×...)."""
    cleaned = text(value)
    if cleaned is None:
        return None
    key = cleaned.lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    _fail(column, f"not a yes/no value: {cleaned!r}")


def gender(value: str | None) -> str | None:
    """male / female / other for the usual spellings; anything else is kept as written."""
    cleaned = text(value)
    return None if cleaned is None else _GENDERS.get(cleaned.lower(), cleaned)


def birthday(column: str, value: str | None) -> date | None:
    """A date: 1985-04-01, 1985/4/1, 1985年4月1日 or 19850401; a date-time
    (``1985-04-01 00:00:00``, as EC-CUBE exports its 誕生日) is read as its date."""
    cleaned = _dashed(value)
    if cleaned is None:
        return None
    match = _DATE_ONLY.match(cleaned) or _COMPACT_DATE.match(cleaned) or _TIMESTAMP.match(cleaned)
    if match is None:
        _fail(column, f"not a date: {cleaned!r}")
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        _fail(column, f"not a date: {cleaned!r}")


def timestamp(column: str, value: str | None, zone: tzinfo) -> datetime | None:
    """A date or date-time; without an offset it is read in ``zone`` (the tenant's)."""
    cleaned = _dashed(value)
    if cleaned is None:
        return None
    match = _TIMESTAMP.match(cleaned)
    if match is None:
        _fail(column, f"not a date/time: {cleaned!r}")
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError:
        _fail(column, f"not a date/time: {cleaned!r}")
    try:
        return moment.replace(tzinfo=_offset(offset) if offset else zone).astimezone(UTC)
    except OverflowError:  # year 1 east of UTC (year 0 in UTC), year 9999 west of it
        _fail(column, f"not a date/time of years 2 to 9998: {cleaned!r}")


def amount(column: str, value: str | None, currency: str) -> Decimal | None:
    """Money as written in shop exports (¥1,980 / 1,980円 / １９８０) at currency precision."""
    cleaned = text(value)
    if cleaned is None:
        return None
    known = _AMOUNTS.get((cleaned, currency))
    if known is not None:
        return known
    parsed = _amount(column, cleaned, currency)
    if len(_AMOUNTS) >= _AMOUNTS_KEPT:
        _AMOUNTS.clear()
    _AMOUNTS[(cleaned, currency)] = parsed
    return parsed


# Amounts a file repeats (prices, shipping, totals), parsed once. Only good ones are
# kept: a bad cell raises with its own column every time.
_AMOUNTS: dict[tuple[str, str], Decimal] = {}
_AMOUNTS_KEPT = 4096


def _amount(column: str, cleaned: str, currency: str) -> Decimal:
    try:
        number = Decimal(_MONEY_NOISE.sub("", cleaned))
    except InvalidOperation:
        _fail(column, f"not an amount: {cleaned!r}")
    if not number.is_finite():
        _fail(column, f"not an amount: {cleaned!r}")
    return to_amount(number, currency, column)


def quantity(column: str, value: str | None) -> int | None:
    """A whole, non-negative quantity (``2``, ``２``, ``2個``)."""
    cleaned = text(value)
    if cleaned is None:
        return None
    digits = cleaned.removesuffix("個").replace(",", "").strip()
    if not digits.isdigit():
        _fail(column, f"not a quantity: {cleaned!r}")
    return int(digits)


def _dashed(value: str | None) -> str | None:
    cleaned = text(value)
    if cleaned is None:
        return None
    if "年" not in cleaned and "時" not in cleaned:  # already one space between parts
        return cleaned.replace("/", "-")
    cleaned = _JA_DATE.sub(r"\1-\2-\3 ", cleaned)
    cleaned = _JA_TIME.sub(lambda m: f"{m[1]}:{m[2]}:{m[3] or '00'}", cleaned)
    return re.sub(r"\s+", " ", cleaned.replace("/", "-")).strip()


def _offset(text_offset: str) -> tzinfo:
    if text_offset == "Z":
        return UTC
    sign = -1 if text_offset[0] == "-" else 1
    digits = text_offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(sign * delta)


def _fail(column: str, problem: str) -> NoReturn:
    raise field_error(column, problem)
