"""Import presets: the standard CSV exports of the carts Japanese merchants run, as data.

A preset lets a merchant upload the file their cart gave them, unedited
(``POST /v1/imports?kind=orders&preset=eccube4``). It is data only, read by the same
row mappers as any other file (:mod:`.csv_columns`, :mod:`.csv_orders`,
:mod:`.csv_customers`)::

    columns         the cart's header -> our field. Several headers may feed one field
                    (都道府県(ID) and 都道府県(名称)): the first non-empty one, in the
                    order the preset lists them, is read.
    codes           per header, the cart's codes -> the value our parsers read
                    (性別(ID) 1 -> 男性, 都道府県(ID) 13 -> 東京都); any other value is
                    read as written.
    states          the status column's values -> our order state: financial and
                    fulfillment status, a cancellation (the order did not stand: it
                    does not count as a purchase), or "not an order" (a checkout still
                    in progress: the row is rejected, naming the status).
    product_lines   the line-type values that are product lines: carts that write
                    shipping, fees and discounts as rows of their own (EC-CUBE's
                    明細区分) keep those rows' order cells, not their line.

Columns a preset does not list are still matched by the generic names
(:data:`~.csv_columns` aliases), except for a field the preset already fills, so a
cart's second total (支払合計) never competes with the one the preset chose.

Every preset says where its column names come from (``source``) and whether that
public source covers every column it reads (``coverage``); ``notes`` says what it
does not cover. Cart data lives in :mod:`.csv_presets_eccube` and
:mod:`.csv_presets_asp`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from crm_common.normalize import PREFECTURES
from crm_ingest.domain.csv_columns import RowKind

PREFECTURE_CODES: Mapping[str, str] = {str(i): name for i, name in enumerate(PREFECTURES, 1)}
"""JIS X 0401 prefecture codes (1 北海道 ... 47 沖縄県), the order carts number them in."""


@dataclass(frozen=True, slots=True)
class OrderState:
    """What a cart's order status says, in our terms."""

    financial_status: str | None = None
    fulfillment_status: str | None = None
    cancel_reason: str | None = None  # set: the order did not stand
    not_an_order: str | None = None  # set: rows with this status are rejected, saying why


@dataclass(frozen=True, slots=True)
class PresetColumn:
    """One header of a cart's export and the field it fills."""

    header: str
    field: str
    codes: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Preset:
    """One cart export (a platform and a kind of rows)."""

    name: str
    kind: RowKind
    platform: str  # the source name its events carry, as in the generic API
    label: str
    source: str
    coverage: Literal["full", "partial"]
    columns: tuple[PresetColumn, ...]
    states: Mapping[str, OrderState] = field(default_factory=dict)
    product_lines: frozenset[str] | None = None
    notes: str = ""

    def summary(self) -> dict[str, object]:
        """What ``GET /v1/imports/presets`` shows of it."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "platform": self.platform,
            "label": self.label,
            "source": self.source,
            "coverage": self.coverage,
            "columns": list(dict.fromkeys(c.header for c in self.columns)),
            "notes": self.notes,
            "upload": f"/v1/imports?kind={self.kind.value}&preset={self.name}",
        }


class UnknownPreset(ValueError):
    """No preset of that name reads that kind of rows."""


def presets() -> list[Preset]:
    """Every preset, by name then kind."""
    return sorted(_presets().values(), key=lambda p: (p.name, p.kind.value))


def preset_for(name: str, kind: RowKind | str) -> Preset:
    """The preset ``name`` for ``kind``; :class:`UnknownPreset` lists the known ones."""
    row_kind = RowKind(kind)
    found = _presets().get((name.strip().lower(), row_kind))
    if found is None:
        known = ", ".join(p.name for p in presets() if p.kind is row_kind)
        raise UnknownPreset(f"no {row_kind.value} preset {name!r}; known: {known}")
    return found


@cache
def _presets() -> dict[tuple[str, RowKind], Preset]:
    # The cart modules import this one (for the types): read them on first use.
    from crm_ingest.domain.csv_presets_asp import ASP_PRESETS
    from crm_ingest.domain.csv_presets_eccube import ECCUBE_PRESETS

    return {(p.name, p.kind): p for p in (*ECCUBE_PRESETS, *ASP_PRESETS)}
