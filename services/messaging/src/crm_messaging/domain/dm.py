"""Postal direct-mail print batches: one CSV row per person, as print vendors take them.

The CSV has a header row and CRLF line ends. ``utf-8-sig`` (UTF-8 with BOM, so
Excel detects it) or ``cp932`` (Windows-31J, what vendors call Shift_JIS). For
cp932 the few characters whose Unicode mapping differs between Shift_JIS
tables (WAVE DASH 〜 vs FULLWIDTH TILDE ～ ...) are mapped to the cp932 form,
which prints the same glyph. A character still not representable (𠮷, an
emoji) is replaced by the geta mark 〓 (the typesetter's sign for a missing
glyph) and reported with its row, column and the characters replaced: one
customer's name never fails the whole print batch, and nothing is dropped
silently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from crm_common.csvcells import safe_row
from crm_common.events import Frozen
from crm_common.events.customers import Address
from crm_common.normalize import clean_text, normalize_postal_code, normalize_prefecture
from crm_messaging.domain.errors import EncodingProblem, InvalidIdentifier

DmEncoding = Literal["utf-8-sig", "cp932"]

REPLACEMENT = "〓"  # GETA MARK, in cp932 (0x81AC)
BASE_COLUMNS = ("管理番号", "郵便番号", "都道府県", "住所1", "住所2", "氏名", "敬称")

# JIS X 0208 code points that Unicode-first text carries in the "other" mapping.
_CP932_EQUIVALENTS = str.maketrans(
    {
        "\u301c": "\uff5e",  # WAVE DASH -> FULLWIDTH TILDE
        "\u2212": "\uff0d",  # MINUS SIGN -> FULLWIDTH HYPHEN-MINUS
        "\u2016": "\u2225",  # DOUBLE VERTICAL LINE -> PARALLEL TO
        "\u2014": "\u2015",  # EM DASH -> HORIZONTAL BAR
        "\u00a2": "\uffe0",  # CENT SIGN
        "\u00a3": "\uffe1",  # POUND SIGN
        "\u00ac": "\uffe2",  # NOT SIGN
    }
)


class DmRow(Frozen):
    """One printed piece. ``fields``: template fields (offer text, coupon code ...)."""

    message_id: str
    name: str
    postal_code: str  # 123-4567
    prefecture: str
    address1: str  # city + street
    address2: str = ""  # building, room
    honorific: str = "様"
    fields: dict[str, str] = Field(default_factory=dict)


def dm_row(
    message_id: str,
    name: str,
    address: Address,
    fields: Mapping[str, str] | None = None,
) -> DmRow:
    """A row from a profile's address, cleaned (NFKC, 〒 and hyphens) for printing.

    InvalidIdentifier when the address lacks what the guardrails require.
    """
    postal = normalize_postal_code(address.postal_code)
    prefecture = normalize_prefecture(address.prefecture)
    line1 = " ".join(p for p in (clean_text(address.city), clean_text(address.address1)) if p)
    if postal is None or prefecture is None or not line1 or not clean_text(name):
        raise InvalidIdentifier(f"incomplete postal address for message {message_id}")
    return DmRow(
        message_id=message_id,
        name=clean_text(name) or "",
        postal_code=postal,
        prefecture=prefecture,
        address1=line1,
        address2=clean_text(address.address2) or "",
        fields=dict(fields or {}),
    )


def field_columns(rows: Sequence[DmRow]) -> list[str]:
    """Template field columns in order of first appearance across rows."""
    return list(dict.fromkeys(name for row in rows for name in row.fields))


def _table(rows: Sequence[DmRow]) -> tuple[list[str], list[list[str]]]:
    extra = field_columns(rows)
    header = [*BASE_COLUMNS, *extra]
    body = [
        safe_row(
            [
                row.message_id,
                row.postal_code,
                row.prefecture,
                row.address1,
                row.address2,
                row.name,
                row.honorific,
                *(row.fields.get(column, "") for column in extra),
            ]
        )
        for row in rows
    ]
    return header, body  # cells a spreadsheet would run as formulas are neutralised


@dataclass(frozen=True)
class DmFile:
    """The print file and the cells whose characters were replaced by REPLACEMENT."""

    content: bytes
    replaced: list[EncodingProblem]


def encoding_problems(rows: Sequence[DmRow], encoding: DmEncoding) -> list[EncodingProblem]:
    """Cells of ``rows`` that cannot be written in ``encoding`` (after the cp932 mapping)."""
    header, body = _table(rows)
    return _problems(header, body, encoding)


def _problems(
    header: list[str], body: list[list[str]], encoding: DmEncoding
) -> list[EncodingProblem]:
    if encoding != "cp932":
        return []
    problems: list[EncodingProblem] = []
    for index, cells in enumerate(body):
        for column, cell in zip(header, cells, strict=True):
            bad = _unencodable(cell.translate(_CP932_EQUIVALENTS))
            if bad:
                problems.append(EncodingProblem(index, column, bad))
    return problems


def _unencodable(text: str) -> str:
    return "".join(dict.fromkeys(ch for ch in text if not _encodes(ch)))


def _encodes(ch: str) -> bool:
    try:
        ch.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def _replace(body: list[list[str]], header: list[str], problems: list[EncodingProblem]) -> None:
    columns = {name: n for n, name in enumerate(header)}
    for problem in problems:
        cells = body[problem.row]
        cell = cells[columns[problem.column]].translate(_CP932_EQUIVALENTS)
        cells[columns[problem.column]] = "".join(
            REPLACEMENT if ch in problem.characters else ch for ch in cell
        )


def dm_file(rows: Sequence[DmRow], encoding: DmEncoding) -> DmFile:
    """The print file: header + one line per row, CRLF, in ``encoding``; characters
    the encoding cannot hold are replaced by REPLACEMENT and listed in ``replaced``."""
    header, body = _table(rows)
    problems = _problems(header, body, encoding)
    _replace(body, header, problems)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(body)
    text = buffer.getvalue()
    if encoding == "cp932":
        text = text.translate(_CP932_EQUIVALENTS)
    return DmFile(text.encode(encoding), problems)


def dm_csv(rows: Sequence[DmRow], encoding: DmEncoding) -> bytes:
    """:func:`dm_file`'s content."""
    return dm_file(rows, encoding).content
