"""CSV cells a spreadsheet would run as formulas are written as text."""

from __future__ import annotations

import pytest

from crm_common.csvcells import safe_cell, safe_row


@pytest.mark.parametrize(
    "value",
    ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1", '＝HYPERLINK("x")', "＠SUM(1)"],
)
def test_formula_starts_get_an_apostrophe(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["山田 花子", "-1200", "+819012345678", "1,980", "0.5", ""])
def test_text_and_plain_numbers_are_kept(value: str) -> None:
    assert safe_cell(value) == value


def test_non_text_passes_through() -> None:
    assert safe_row([None, 3, 2.5, "=x"]) == [None, 3, 2.5, "'=x"]
