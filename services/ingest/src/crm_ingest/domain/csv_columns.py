"""Which CSV column holds which field, for headers in Japanese or English, or as a
cart's export names them (:mod:`.csv_presets`)."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from crm_ingest.domain.errors import HeaderError

if TYPE_CHECKING:
    from crm_ingest.domain.csv_presets import Preset


class RowKind(StrEnum):
    CUSTOMERS = "customers"
    ORDERS = "orders"


_CONTACT: dict[str, tuple[str, ...]] = {
    "customer_id": ("顧客ID", "会員ID", "顧客番号", "会員番号", "customer_id", "customer id"),
    "email": ("メールアドレス", "メール", "Eメール", "PCメールアドレス", "email", "e-mail", "mail"),
    "phone": ("電話番号", "電話", "TEL", "携帯電話番号", "phone", "telephone"),
}

_CUSTOMER: dict[str, tuple[str, ...]] = {
    **_CONTACT,
    "last_name": ("姓", "氏", "お名前(姓)", "last_name", "family_name"),
    "first_name": ("名", "お名前(名)", "first_name", "given_name"),
    "last_name_kana": ("セイ", "姓カナ", "姓(カナ)", "フリガナ(姓)", "last_name_kana"),
    "first_name_kana": ("メイ", "名カナ", "名(カナ)", "フリガナ(名)", "first_name_kana"),
    "postal_code": ("郵便番号", "〒", "postal_code", "zip", "zipcode", "zip_code"),
    "prefecture": ("都道府県", "prefecture", "province"),
    "city": ("市区町村", "city"),
    "address1": ("住所1", "住所", "address1", "address"),
    "address2": ("住所2", "建物名", "address2"),
    "birthday": ("生年月日", "誕生日", "birthday", "birthdate", "date_of_birth"),
    "gender": ("性別", "gender", "sex"),
    "email_consent": (
        "メルマガ",
        "メルマガ購読",
        "メルマガ配信",
        "メールマガジン",
        "email_consent",
        "accepts_marketing",
        "newsletter",
    ),
    "tags": ("タグ", "tags"),
    "created_at": ("登録日", "登録日時", "入会日", "created_at"),
    "updated_at": ("更新日", "更新日時", "updated_at"),
}

_ORDER: dict[str, tuple[str, ...]] = {
    **_CONTACT,
    "order_id": ("受注番号", "注文番号", "受注ID", "注文ID", "order_id", "order_number"),
    "placed_at": (
        "受注日時",
        "注文日時",
        "受注日",
        "注文日",
        "placed_at",
        "order_date",
        "ordered_at",
    ),
    "total": ("合計金額", "総合計", "支払合計", "請求金額", "total", "total_price"),
    "subtotal": ("小計", "商品合計", "subtotal"),
    "shipping": ("送料", "shipping"),
    "total_tax": ("消費税", "税額", "tax", "total_tax"),
    "total_discounts": ("値引額", "割引額", "値引き", "discount", "total_discounts"),
    "currency": ("通貨", "currency"),
    "updated_at": ("更新日時", "更新日", "最終更新日時", "updated_at"),
    "financial_status": (
        "入金状況",
        "入金ステータス",
        "支払状況",
        "決済状況",
        "financial_status",
        "payment_status",
    ),
    "fulfillment_status": (
        "発送状況",
        "発送ステータス",
        "出荷状況",
        "配送状況",
        "fulfillment_status",
        "shipping_status",
    ),
    "kind": ("受注種別", "注文種別", "order_type", "kind"),
    "subscription": ("定期", "定期購入", "subscription"),
    "product_id": ("商品ID", "product_id"),
    "sku": ("商品コード", "品番", "型番", "sku"),
    "title": ("商品名", "title", "product_name"),
    "category": ("カテゴリ", "カテゴリー", "category"),
    "quantity": ("数量", "個数", "quantity", "qty"),
    "unit_price": ("単価", "販売価格", "unit_price", "price"),
}

PRESET_FIELDS: dict[RowKind, frozenset[str]] = {
    RowKind.CUSTOMERS: frozenset(),
    RowKind.ORDERS: frozenset(
        {"order_number", "status", "placed_time", "line_type", "line_id", "variant_id"}
    ),
}
"""Fields only a preset fills (a cart's status codes, its line types, its order time
apart from the date ...): no generic header names them."""

_REQUIRED: dict[RowKind, tuple[tuple[str, ...], ...]] = {
    # each tuple: at least one of these fields must have a column
    RowKind.CUSTOMERS: (("customer_id", "email", "phone"),),
    RowKind.ORDERS: (("order_id",), ("placed_at",), ("total",), ("customer_id", "email", "phone")),
}

_FIELDS = {RowKind.CUSTOMERS: _CUSTOMER, RowKind.ORDERS: _ORDER}
_DECORATION = re.compile(r"[\s_\-()（）【】\[\]・]")


def header_key(name: str) -> str:
    """A header cell reduced for matching: NFKC, lower case, no spaces or brackets."""
    return _DECORATION.sub("", unicodedata.normalize("NFKC", name).lower())


_LOOKUP: dict[RowKind, dict[str, str]] = {
    kind: {header_key(alias): field for field, aliases in fields.items() for alias in aliases}
    for kind, fields in _FIELDS.items()
}


@dataclass(frozen=True, slots=True)
class Columns:
    """Field name -> the header cell as written in the file, plus unrecognised columns.

    With a preset, a field may have further headers (``alternates``, read when the
    first is empty) and a header may carry the cart's codes (``codes``)."""

    kind: RowKind
    fields: dict[str, str]
    unknown: tuple[str, ...]
    alternates: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    codes: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    preset: Preset | None = None
    special: bool = False  # alternates or codes: cells need more than a lookup

    def label(self, field: str) -> str:
        """The column as the operator wrote it (for messages), else the field name."""
        return self.fields.get(field, field)

    def headers(self, field: str) -> tuple[str, ...]:
        """Every header that feeds ``field``, the one read first first."""
        first = self.fields.get(field)
        return () if first is None else (first, *self.alternates.get(field, ()))


def known_fields(kind: RowKind) -> frozenset[str]:
    """Every field a file of ``kind`` can fill."""
    return frozenset(_FIELDS[kind]) | PRESET_FIELDS[kind]


def unique_header(names: Sequence[str]) -> list[str]:
    """``names`` with repeats renamed ``name (2)``, ``name (3)`` ...: a header that names
    a column twice (EC-CUBE's 受注CSV has two 送料) keeps both, the first as written."""
    taken: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name} ({n})"
        taken.add(candidate)
        out.append(candidate)
    return out


def resolve_columns(kind: RowKind, header: Sequence[str], preset: Preset | None = None) -> Columns:
    """Map a header row; raises :class:`HeaderError` for repeated or missing fields.
    With ``preset``, its own names come first and the generic ones fill the rest."""
    if preset is not None:
        return _with_preset(kind, header, preset)
    fields: dict[str, str] = {}
    unknown: list[str] = []
    for name in header:
        field = _LOOKUP[kind].get(header_key(name))
        if field is None:
            unknown.append(name)
        elif field in fields:
            raise HeaderError(f"columns {fields[field]!r} and {name!r} both mean {field}")
        else:
            fields[field] = name
    _check_required(kind, fields, None)
    return Columns(kind, fields, tuple(unknown))


def _with_preset(kind: RowKind, header: Sequence[str], preset: Preset) -> Columns:
    ranks = {header_key(c.header): (rank, c) for rank, c in enumerate(preset.columns)}
    hits: dict[str, list[tuple[int, str]]] = {}
    codes: dict[str, Mapping[str, str]] = {}
    rest: list[str] = []
    for name in header:
        found = ranks.get(header_key(name))
        if found is None:
            rest.append(name)
            continue
        rank, column = found
        hits.setdefault(column.field, []).append((rank, name))
        if column.codes:
            codes[name] = column.codes
    ordered = {f: [name for _, name in sorted(found)] for f, found in hits.items()}
    fields = {f: names[0] for f, names in ordered.items()}
    alternates = {f: tuple(names[1:]) for f, names in ordered.items() if len(names) > 1}
    unknown = _generic_rest(kind, rest, fields)
    _check_required(kind, fields, preset)
    special = bool(alternates or codes)
    return Columns(kind, fields, tuple(unknown), alternates, codes, preset, special)


def _generic_rest(kind: RowKind, names: Sequence[str], fields: dict[str, str]) -> list[str]:
    """Fill ``fields`` from the generic names of ``names``; returns the columns left
    unread. A field the preset already fills is not read again (支払合計 is not a
    second 合計)."""
    taken = set(fields)
    unknown: list[str] = []
    for name in names:
        field = _LOOKUP[kind].get(header_key(name))
        if field is None or field in taken:
            unknown.append(name)
        elif field in fields:
            raise HeaderError(f"columns {fields[field]!r} and {name!r} both mean {field}")
        else:
            fields[field] = name
    return unknown


def _check_required(kind: RowKind, fields: dict[str, str], preset: Preset | None) -> None:
    for alternatives in _REQUIRED[kind]:
        if not any(field in fields for field in alternatives):
            message = f"{kind.value}: missing column for {' or '.join(alternatives)}"
            if preset is not None:
                names = [c.header for c in preset.columns if c.field in alternatives]
                if names:
                    message += f" ({preset.label} names it {' or '.join(names)})"
            raise HeaderError(message)
