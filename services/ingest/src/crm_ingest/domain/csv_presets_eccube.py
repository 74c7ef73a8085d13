"""EC-CUBE 4: the 受注CSV (orders) and 会員CSV (customers) the admin screens export.

Where the names come from (EC-CUBE is open source; read, not copied):

- Column names: ``disp_name`` of ``dtb_csv`` rows with ``csv_type_id`` 3 (受注CSV) and
  2 (会員CSV) in EC-CUBE/ec-cube ``src/Eccube/Resource/doctrine/import_csv/ja/dtb_csv.csv``
  (commit 194534c6248d5212a5bd3abb6feae7775eba314e). The export writes the enabled
  rows' ``disp_name`` in ``sort_no`` order as its header; an admin may disable or
  reorder columns (CSV出力項目設定), so a preset matches names, never positions.
- Codes: ``mtb_order_status.csv`` (対応状況), ``mtb_order_item_type.csv`` (明細区分),
  ``mtb_sex.csv`` (性別) and ``mtb_pref.csv`` (都道府県, JIS order) in the same folder.
- Values: dates are written with ``eccube_csv_export_date_format`` (``Y-m-d H:i:s``,
  the shop's time zone), amounts as decimals (``1200.00``), Shift_JIS (``SJIS-win``)
  by default (``eccube_csv_export_encoding``).

The 受注CSV has one row per order item (``dtb_order_item``), and items are not only
products: shipping, fees, discounts, tax and points are items too (明細区分). Their
rows keep the order's cells and add no line. Its header names 送料 twice (the order's
``delivery_fee_total``, then the shipping's fee): the first is read (the reader
renames the second ``送料 (2)``). 合計 (``total``) is the order's value; 支払合計
(``payment_total``) is what was left to pay after points, not used.

Customers: 誕生日 is a date-time (``1985-04-01 00:00:00``), read as its date. 会社名,
職業, 購入回数, ポイント, 会員ステータス ... are kept as properties of the customer.
"""

from __future__ import annotations

from crm_ingest.domain.csv_columns import RowKind
from crm_ingest.domain.csv_presets import PREFECTURE_CODES, OrderState, Preset, PresetColumn

SOURCE = (
    "https://github.com/EC-CUBE/ec-cube/blob/194534c6248d5212a5bd3abb6feae7775eba314e/"
    "src/Eccube/Resource/doctrine/import_csv/ja/dtb_csv.csv"
)

ORDER_STATUS_CODES = {
    "1": "新規受付",
    "3": "注文取消し",
    "4": "対応中",
    "5": "発送済み",
    "6": "入金済み",
    "7": "決済処理中",
    "8": "購入処理中",
    "9": "返品",
}
"""``mtb_order_status``: id -> name."""

ORDER_STATES = {
    "新規受付": OrderState(financial_status="pending", fulfillment_status="unfulfilled"),
    "入金済み": OrderState(financial_status="paid", fulfillment_status="unfulfilled"),
    "対応中": OrderState(fulfillment_status="unfulfilled"),
    "発送済み": OrderState(fulfillment_status="fulfilled"),
    "注文取消し": OrderState(cancel_reason="cancelled"),
    "返品": OrderState(financial_status="refunded", cancel_reason="returned"),
    "決済処理中": OrderState(not_an_order="payment still in progress, not a placed order"),
    "購入処理中": OrderState(not_an_order="checkout still in progress, not a placed order"),
}
"""EC-CUBE's order statuses in our terms (the generic API mapping uses the same table).

対応中 and 発送済み say nothing about payment (cash on delivery ships first); 返品 (the
goods came back) does not count as a purchase, like a cancellation; 決済処理中 and
購入処理中 are checkouts that never completed."""

ORDER_ITEM_TYPE_CODES = {
    "1": "商品",
    "2": "送料",
    "3": "手数料",
    "4": "割引",
    "5": "税",
    "6": "ポイント",
}
"""``mtb_order_item_type``: id -> name; only 商品 is a product line."""

SEX_CODES = {"1": "男性", "2": "女性"}
"""``mtb_sex``: id -> name."""


def _cols(*pairs: tuple[str, str] | PresetColumn) -> tuple[PresetColumn, ...]:
    return tuple(p if isinstance(p, PresetColumn) else PresetColumn(*p) for p in pairs)


ORDERS = Preset(
    name="eccube4",
    kind=RowKind.ORDERS,
    platform="ec-cube",
    label="EC-CUBE 4 受注CSV",
    source=SOURCE,
    coverage="full",
    columns=_cols(
        ("注文ID", "order_id"),
        ("注文番号", "order_number"),
        ("会員ID", "customer_id"),
        ("メールアドレス", "email"),
        ("TEL", "phone"),
        ("受注日", "placed_at"),
        ("小計", "subtotal"),
        ("値引き", "total_discounts"),
        ("送料", "shipping"),
        ("税金", "total_tax"),
        ("合計", "total"),
        PresetColumn("対応状況(ID)", "status", ORDER_STATUS_CODES),
        ("対応状況(名称)", "status"),
        PresetColumn("明細区分(ID)", "line_type", ORDER_ITEM_TYPE_CODES),
        ("明細区分(名称)", "line_type"),
        ("注文詳細ID", "line_id"),
        ("商品ID", "product_id"),
        ("商品規格ID", "variant_id"),
        ("商品コード", "sku"),
        ("商品名", "title"),
        ("価格", "unit_price"),
        ("個数", "quantity"),
    ),
    states=ORDER_STATES,
    product_lines=frozenset({"商品"}),
    notes=(
        "One row per order item; shipping, fee, discount, tax and point items add no line. "
        "価格 is the item price before tax, as EC-CUBE stores it. 注文ID is the order id, "
        "注文番号 its number; 決済処理中 and 購入処理中 rows are rejected (not placed orders). "
        "Also reads the 配送CSV (same columns)."
    ),
)

CUSTOMERS = Preset(
    name="eccube4",
    kind=RowKind.CUSTOMERS,
    platform="ec-cube",
    label="EC-CUBE 4 会員CSV",
    source=SOURCE,
    coverage="full",
    columns=_cols(
        ("会員ID", "customer_id"),
        ("お名前(姓)", "last_name"),
        ("お名前(名)", "first_name"),
        ("お名前(セイ)", "last_name_kana"),
        ("お名前(メイ)", "first_name_kana"),
        ("郵便番号", "postal_code"),
        PresetColumn("都道府県(ID)", "prefecture", PREFECTURE_CODES),
        ("都道府県(名称)", "prefecture"),
        ("住所1", "address1"),
        ("住所2", "address2"),
        ("メールアドレス", "email"),
        ("TEL", "phone"),
        PresetColumn("性別(ID)", "gender", SEX_CODES),
        ("性別(名称)", "gender"),
        ("誕生日", "birthday"),
        ("登録日", "created_at"),
        ("更新日", "updated_at"),
    ),
    notes=(
        "The other columns (会社名, 職業, 購入回数, ポイント, 会員ステータス ...) are kept as "
        "properties of the customer. EC-CUBE 4 itself has no newsletter column; a "
        "メルマガ column added by a plugin is read by its generic name."
    ),
)

ECCUBE_PRESETS = (ORDERS, CUSTOMERS)
