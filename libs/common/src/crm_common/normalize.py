"""Cleansing of personal data on the way in: the same rules for every source.

Japanese shop data arrives with full-width digits and letters, stray spaces,
mixed-case emails, phone numbers written a dozen ways and prefectures with or
without their suffix. These functions turn each into one canonical form, so
that identity matching and deduplication compare like with like.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

PREFECTURES: tuple[str, ...] = (
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
)

_ROMAJI = (
    "hokkaido",
    "aomori",
    "iwate",
    "miyagi",
    "akita",
    "yamagata",
    "fukushima",
    "ibaraki",
    "tochigi",
    "gunma",
    "saitama",
    "chiba",
    "tokyo",
    "kanagawa",
    "niigata",
    "toyama",
    "ishikawa",
    "fukui",
    "yamanashi",
    "nagano",
    "gifu",
    "shizuoka",
    "aichi",
    "mie",
    "shiga",
    "kyoto",
    "osaka",
    "hyogo",
    "nara",
    "wakayama",
    "tottori",
    "shimane",
    "okayama",
    "hiroshima",
    "yamaguchi",
    "tokushima",
    "kagawa",
    "ehime",
    "kochi",
    "fukuoka",
    "saga",
    "nagasaki",
    "kumamoto",
    "oita",
    "miyazaki",
    "kagoshima",
    "okinawa",
)

_PREFECTURE_LOOKUP: dict[str, str] = {}
for _name, _romaji in zip(PREFECTURES, _ROMAJI, strict=True):
    _PREFECTURE_LOOKUP[_name] = _name
    _PREFECTURE_LOOKUP[_name if _name == "北海道" else _name[:-1]] = _name
    _PREFECTURE_LOOKUP[_romaji] = _name
    _PREFECTURE_LOOKUP[f"{_romaji}-to"] = _name
    _PREFECTURE_LOOKUP[f"{_romaji}-fu"] = _name
    _PREFECTURE_LOOKUP[f"{_romaji}-ken"] = _name
# Shopify sends ISO 3166-2 codes (JP-13) as province_code.
for _i, _name in enumerate(PREFECTURES, start=1):
    _PREFECTURE_LOOKUP[f"jp-{_i:02d}"] = _name

_POSTAL = re.compile(r"^(\d{3})-?(\d{4})$")


def clean_text(value: str | None) -> str | None:
    """NFKC (full-width ASCII to half-width, half-width kana to full-width), trim,
    collapse inner white space; empty becomes None."""
    if value is None:
        return None
    return _clean(value)


@lru_cache(maxsize=8192)
def _clean(value: str) -> str | None:
    # Remembered: imports and webhooks repeat the same cells (statuses, products,
    # prefectures, an order's date on each of its lines). str.split() splits on
    # exactly what the regex ``\s+`` matches (Unicode white space).
    return " ".join(unicodedata.normalize("NFKC", value).split()) or None


def normalize_email(value: str | None) -> str | None:
    """NFKC, trimmed, lower-cased; None when empty or without a single ``@``."""
    text = clean_text(value)
    if text is None:
        return None
    text = text.replace(" ", "").lower()
    local, sep, domain = text.partition("@")
    if not sep or not local or not domain or "@" in domain or "." not in domain:
        return None
    return text


def normalize_phone(value: str | None, default_region: str = "JP") -> str | None:
    """E.164 (``+819012345678``) via libphonenumber; None when not a possible number."""
    text = clean_text(value)
    if text is None:
        return None
    return _e164(text, default_region)


# A Japanese mobile number as exports write it (090-1234-5678, 09012345678): what
# libphonenumber makes of it, without parsing (tests/test_common_normalize.py
# checks the two agree). Any other number is parsed, and remembered.
_JP_MOBILE = re.compile(r"0[789]0(?:-[0-9]{4}-[0-9]{4}|[0-9]{8})")


@lru_cache(maxsize=16_384)
def _e164(text: str, region: str) -> str | None:
    if region == "JP" and _JP_MOBILE.fullmatch(text):
        return "+81" + text[1:].replace("-", "")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_prefecture(value: str | None) -> str | None:
    """Any common spelling (東京, 東京都, Tokyo, tokyo-to, JP-13) to the official name.

    Returns None for a value that names no prefecture.
    """
    text = clean_text(value)
    if text is None:
        return None
    return _PREFECTURE_LOOKUP.get(text.lower().replace(" ", ""))


def normalize_postal_code(value: str | None) -> str | None:
    """郵便番号 as ``123-4567``; None when it is not seven digits."""
    text = clean_text(value)
    if text is None:
        return None
    text = text.replace("〒", "").replace("ー", "-").replace("−", "-").strip()
    match = _POSTAL.match(text)
    return f"{match.group(1)}-{match.group(2)}" if match else None
