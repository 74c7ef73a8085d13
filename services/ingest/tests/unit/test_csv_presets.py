"""Import presets: each cart's export (header + a few rows, Shift_JIS with CRLF, read
through the importer's own reader) mapped to canonical events, rejections naming the
column as the cart's file names it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crm_ingest.csvfile import ChunkReader, detect_encoding
from crm_ingest.domain import HeaderError, OrderGrouper, RowError, RowMapper, TenantContext
from crm_ingest.domain.csv_columns import RowKind, known_fields, unique_header
from crm_ingest.domain.csv_presets import UnknownPreset, preset_for, presets
from crm_ingest.domain.csv_values import birthday
from crm_ingest.domain.csvrows import OrderTooLarge

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "carts"
NOW = datetime(2024, 6, 10, 3, 0, tzinfo=UTC)
TENANT = TenantContext(tenant_id="t-jp")  # JPY, Asia/Tokyo


def cart_file(tmp_path: Path, name: str, drop: tuple[str, ...] = ()) -> Path:
    """The fixture as the cart writes it: Shift_JIS (cp932), CRLF; ``drop``: columns an
    admin switched off (the rest keep their order)."""
    lines = (FIXTURES / name).read_text("utf-8").splitlines()
    if drop:
        lines = _without(lines, drop)
    path = tmp_path / name
    path.write_bytes("\r\n".join([*lines, ""]).encode("cp932"))
    return path


def _without(lines: list[str], drop: tuple[str, ...]) -> list[str]:
    import csv
    import io

    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    keep = [i for i, name in enumerate(rows[0]) if name not in drop]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[r[i] for i in keep] for r in rows])
    return out.getvalue().splitlines()


def run_import(path: Path, kind: str, preset: str, source: str) -> tuple[list[Any], list[Any]]:
    """Events and ``(line, reason)`` rejections, the way the import worker gets them."""
    encoding = detect_encoding(path)
    assert encoding == "cp932"
    reader = ChunkReader(path, encoding)
    try:
        mapper = RowMapper(
            kind, reader.header, TENANT, received_at=NOW, source=source, preset=preset
        )
        rows = reader.read(1000)
    finally:
        reader.close()
    events: list[Any] = []
    rejected: list[tuple[int, str]] = []
    grouper = OrderGrouper()
    for line, row in rows:
        result = mapper.read_row(row)
        if isinstance(result, RowError):
            rejected.append((line, result.reason))
        elif kind == "orders":
            _keep(events, grouper.add(result, line))
        else:
            events.append(result)
    _keep(events, grouper.flush())
    return events, rejected


def _keep(events: list[Any], done: Any) -> None:
    assert not isinstance(done, OrderTooLarge)
    if done is not None:
        events.append(done)


def jst(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # parts already given in UTC


# --- EC-CUBE 4 ------------------------------------------------------------------


def test_eccube4_orders_one_row_per_item(tmp_path):
    path = cart_file(tmp_path, "eccube4_orders.csv")

    events, rejected = run_import(path, "orders", "eccube4", "ec-cube")

    assert rejected == [
        (6, "対応状況(ID): 購入処理中: checkout still in progress, not a placed order"),
        (7, "受注日: not a date/time: '2024-13-01 10:00:00'"),
    ]
    assert [e.data.order_id for e in events] == ["101", "102"]
    paid, cancelled = events
    assert (paid.type, paid.source) == ("order.placed", "ec-cube")
    assert paid.identity.external_ids == {"ec-cube": "7"}
    assert (paid.identity.email, paid.identity.phone) == ("hanako@example.jp", "+819012345678")
    data = paid.data
    assert data.order_number == "101"
    assert data.placed_at == jst(2024, 6, 1, 1, 15, 30)  # 10:15:30 in Tokyo
    assert (data.subtotal, data.total_discounts, data.shipping, data.total_tax, data.total) == (
        Decimal("3300"),
        Decimal("0"),
        Decimal("800"),  # the order's 送料, not the shipping's (the second 送料 column)
        Decimal("373"),
        Decimal("4100"),  # 合計, not 支払合計
    )
    assert (data.financial_status, data.fulfillment_status, data.cancelled_at) == (
        "paid",
        "unfulfilled",
        None,
    )
    # The 送料 item (明細区分 2) keeps the order's cells and adds no line.
    assert [
        (ln.line_id, ln.product_id, ln.variant_id, ln.sku, ln.title, ln.quantity)
        for ln in data.lines
    ] == [("1001", "10", "21", "TEA-01", "煎茶", 2), ("1002", "11", "22", "TEA-02", "ほうじ茶", 1)]
    assert {ln.unit_price.amount for ln in data.lines} == {Decimal("1000")}
    # 注文取消し: not a purchase; the export does not say when, so the order's own time.
    assert cancelled.identity.external_ids == {}
    assert (cancelled.data.cancel_reason, cancelled.data.cancelled_at) == (
        "cancelled",
        jst(2024, 6, 2, 0, 0),
    )


def test_eccube4_orders_read_by_name_whatever_columns_the_admin_switched_off(tmp_path):
    # CSV出力項目設定: the ID columns off, the 名称 columns read instead.
    path = cart_file(
        tmp_path, "eccube4_orders.csv", drop=("対応状況(ID)", "明細区分(ID)", "注文番号", "TEL")
    )

    events, rejected = run_import(path, "orders", "eccube4", "ec-cube")

    assert [line for line, _ in rejected] == [6, 7]
    assert rejected[0][1].startswith("対応状況(名称): 購入処理中")
    paid = events[0].data
    assert (paid.financial_status, paid.order_number, len(paid.lines)) == ("paid", "101", 2)
    assert events[0].identity.phone is None


def test_eccube4_customers(tmp_path):
    path = cart_file(tmp_path, "eccube4_customers.csv")

    events, rejected = run_import(path, "customers", "eccube4", "ec-cube")

    assert rejected == [(3, "メールアドレス: not an email address: 'not-an-email'")]
    hanako, jiro = events
    assert hanako.type == "customer.upserted"
    assert hanako.identity.external_ids == {"ec-cube": "7"}
    data = hanako.data
    assert (data.last_name, data.first_name, data.last_name_kana, data.first_name_kana) == (
        "山田",
        "花子",
        "ヤマダ",
        "ハナコ",
    )
    assert (data.email, data.phone, data.gender) == (
        "hanako@example.jp",
        "+819012345678",
        "female",  # 性別(ID) 2
    )
    assert data.birthday == date(1985, 4, 1)  # written 1985-04-01 00:00:00
    address = data.address
    assert (address.postal_code, address.prefecture, address.address1, address.address2) == (
        "100-0001",
        "東京都",
        "千代田区千代田",
        "1-1",
    )
    assert (data.created_at, data.updated_at) == (
        jst(2023, 1, 10, 3, 0),
        jst(2024, 6, 1, 1, 15, 30),
    )
    assert data.properties == {
        "初回購入日": "2024-06-01 10:15:30",
        "最終購入日": "2024-06-01 10:15:30",
        "購入回数": "1",
        "会員ステータス(ID)": "2",
        "会員ステータス(名称)": "本会員",
        "ポイント": "120",
    }
    # 都道府県(名称) empty: 都道府県(ID) 1 is read through the JIS codes.
    assert (jiro.data.address.prefecture, jiro.data.gender) == ("北海道", "male")
    assert jiro.data.properties["会員ステータス(名称)"] == "退会"


def test_eccube4_header_repeats_and_competing_totals():
    header = (FIXTURES / "eccube4_orders.csv").read_text("utf-8").splitlines()[0].split(",")
    mapper = RowMapper("orders", unique_header(header), TENANT, received_at=NOW, preset="eccube4")
    columns = mapper.columns

    assert (columns.fields["shipping"], columns.fields["total"]) == ("送料", "合計")
    assert {"送料 (2)", "支払合計"} <= set(columns.unknown)
    assert columns.alternates["status"] == ("対応状況(名称)",)


def test_a_missing_required_column_is_named_as_the_cart_names_it():
    header = ["注文番号", "受注日", "合計", "メールアドレス"]
    with pytest.raises(HeaderError) as refused:
        RowMapper("orders", header, TENANT, received_at=NOW, preset="eccube4")
    assert str(refused.value) == (
        "orders: missing column for order_id (EC-CUBE 4 受注CSV names it 注文ID)"
    )


# --- futureshop, MakeShop (partial presets) --------------------------------------


def test_futureshop_orders(tmp_path):
    path = cart_file(tmp_path, "futureshop_orders.csv")

    events, rejected = run_import(path, "orders", "futureshop", "futureshop")

    assert rejected == [(4, "購入数量: not a quantity: '二'")]
    two_lines, mobile = events
    assert two_lines.data.order_id == "FS-1001"
    assert (two_lines.data.total, two_lines.data.subtotal, two_lines.data.shipping) == (
        Decimal("5280"),  # "5,280"
        Decimal("4400"),
        Decimal("880"),
    )
    assert [
        (ln.sku, ln.title, ln.quantity, ln.unit_price.amount) for ln in two_lines.data.lines
    ] == [
        ("TEA-01", "煎茶", 3, Decimal("1100")),
        ("TEA-03", "玄米茶", 1, Decimal("1100")),
    ]
    # メールアドレス matched by its generic name (not verified for futureshop).
    assert (two_lines.identity.email, two_lines.identity.phone) == (
        "tanaka@example.jp",
        "+81312345678",
    )
    # 電話番号(メイン) empty: 携帯電話番号 is read.
    assert (mobile.data.order_id, mobile.identity.phone) == ("FS-1003", "+818011112222")
    assert mobile.data.placed_at == jst(2024, 6, 7, 10, 45)


def test_makeshop_orders_date_and_time_apart_and_statuses(tmp_path):
    path = cart_file(tmp_path, "makeshop_orders.csv")

    events, rejected = run_import(path, "orders", "makeshop", "makeshop")

    assert rejected == [
        (4, "処理状況: unknown status '保留' (known: 未処理, 配送, 注文キャンセル, 返送)"),
        (5, "注文時間: not a time of day: '25:00'"),
    ]
    shipped, cancelled = events
    assert shipped.data.order_id == "P171323551145213731"
    assert shipped.data.placed_at == jst(2022, 8, 10, 1, 33, 9)  # 2022/8/10 + 103309 in Tokyo
    assert (shipped.data.fulfillment_status, shipped.data.cancelled_at) == ("fulfilled", None)
    assert [(ln.title, ln.quantity) for ln in shipped.data.lines] == [("煎茶", 2)]
    # 93005: a spreadsheet dropped the leading zero of 093005.
    assert cancelled.data.placed_at == jst(2022, 8, 11, 0, 30, 5)
    assert (cancelled.data.cancel_reason, cancelled.data.cancelled_at) == (
        "cancelled",
        cancelled.data.placed_at,
    )


# --- the presets themselves ------------------------------------------------------


@pytest.mark.parametrize("preset", presets(), ids=lambda p: f"{p.name}-{p.kind.value}")
def test_every_preset_is_consistent_data(preset):
    fields = {c.field for c in preset.columns}
    assert fields <= known_fields(preset.kind)
    assert bool(preset.states) == ("status" in fields)
    assert (preset.product_lines is not None) == ("line_type" in fields)
    for column in preset.columns:
        if column.field == "status" and column.codes:
            assert set(column.codes.values()) <= set(preset.states)
    assert preset.source.startswith("https://")
    assert preset.coverage in ("full", "partial")
    assert preset_for(preset.name, preset.kind) is preset


def test_listed_presets():
    assert [(p.name, p.kind) for p in presets()] == [
        ("eccube4", RowKind.CUSTOMERS),
        ("eccube4", RowKind.ORDERS),
        ("futureshop", RowKind.ORDERS),
        ("makeshop", RowKind.ORDERS),
    ]
    summary = preset_for("eccube4", "orders").summary()
    assert summary["upload"] == "/v1/imports?kind=orders&preset=eccube4"
    assert summary["columns"][:3] == ["注文ID", "注文番号", "会員ID"]


def test_an_unknown_preset_lists_the_known_ones():
    with pytest.raises(UnknownPreset, match="no customers preset 'makeshop'; known: eccube4"):
        RowMapper("customers", ["会員ID"], TENANT, received_at=NOW, preset="makeshop")


def test_unique_header_keeps_every_column():
    assert unique_header(["送料", "合計", "送料", "送料 (2)", "送料"]) == [
        "送料",
        "合計",
        "送料 (2)",
        "送料 (2) (2)",
        "送料 (3)",
    ]


def test_a_birthday_written_as_a_date_time_is_its_date():
    assert birthday("誕生日", "1985-04-01 00:00:00") == date(1985, 4, 1)
    assert birthday("誕生日", "1985/4/1 0:00") == date(1985, 4, 1)
