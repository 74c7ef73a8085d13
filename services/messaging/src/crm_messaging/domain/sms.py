"""SMS segment counting (3GPP TS 23.038 / 23.040).

GSM-7 carries 160 septets in one SMS, 153 per part once concatenated (the
user-data header takes the rest); extension characters (``€ [ ] { } ^ ~ \\ |``
and form feed) cost two septets. Anything else, Japanese included, forces
UCS-2: 70 UTF-16 code units alone, 67 per part; an emoji outside the BMP is two
units. An escape pair or a surrogate pair is never split across parts, so parts
are packed greedily rather than by dividing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

_LIMITS: dict[str, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class SmsSegments:
    encoding: Literal["GSM-7", "UCS-2"]
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def _is_gsm7(text: str) -> bool:
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text)


def _cost(ch: str, encoding: str) -> int:
    if encoding == "GSM-7":
        return 2 if ch in _GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def _pack(costs: list[int], capacity: int) -> int:
    parts, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            parts, used = parts + 1, 0
        used += cost
    return parts


def sms_segments(text: str) -> SmsSegments:
    """Encoding, length in units and number of SMS parts ``text`` is billed as (0 for empty)."""
    encoding: Literal["GSM-7", "UCS-2"] = "GSM-7" if _is_gsm7(text) else "UCS-2"
    costs = [_cost(ch, encoding) for ch in text]
    units = sum(costs)
    single, part = _LIMITS[encoding]
    if units == 0:
        segments = 0
    elif units <= single:
        segments = 1
    else:
        segments = _pack(costs, part)
    return SmsSegments(encoding=encoding, units=units, segments=segments)
