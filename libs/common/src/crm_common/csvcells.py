"""CSV cells that a spreadsheet will not run as formulas (CSV injection).

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
read by Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)``,
``@SUM(...)``). Customer data (names, addresses, properties) reaches the print
files and exports a merchant opens, so every text cell is written through
:func:`safe_cell`: such a cell gets a leading apostrophe (OWASP's advice), which
the spreadsheet shows as text and hides. The check runs on the NFKC form too, so a
full-width ``＝`` is caught. Plain numbers (``-1200``, ``+819012345678``) are
values, not formulas, and are left alone.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d[\d,]*(\.\d+)?$")


def safe_cell(value: Any) -> Any:
    """``value`` as a cell no spreadsheet evaluates; non-text values pass through."""
    if not isinstance(value, str) or not value:
        return value
    folded = unicodedata.normalize("NFKC", value[:2])
    if not folded.startswith(_TRIGGERS) or _NUMBER.match(value):
        return value
    return "'" + value


def safe_row(values: list[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]
