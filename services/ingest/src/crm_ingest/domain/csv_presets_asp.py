"""futureshop and MakeShop order exports: partial presets, from the public lists we found.

Neither cart publishes its export as code; both let the merchant choose the columns
(futureshop 受注データ取得項目設定, MakeShop 注文出力用テンプレートの設定). A preset
therefore lists only the column names a public page shows, and says so
(``coverage="partial"``); every other column is matched by the generic names only,
which is a convenience, not a claim about the cart.

futureshop (受注データ, "FutureShop2" format)
    Column names: the checklist of futureshop's order CSV items in Next Engine's manual
    "受注CSVファイルの出力項目を設定【futureshop】" (ID 6334),
    https://manual.next-engine.net/main/orders/ord_torikomi-shori/juchu_torikomi/juchu_futureshop2/6334/
    (futureshop's own page on the setting,
    http://www.future-shop.jp/manual/operate/accept/opt-AcceptConfigDownloadItemEdit.html,
    describes the three formats but its item list was not readable).
    Not verified: the e-mail and member id columns (items 19-22 of that list were not
    readable; メールアドレス / 会員ID still match by their generic names), the order
    status column and its values, and the date format (read like any date-time).
    No customers preset: no public list of futureshop's member CSV columns was found.

MakeShop (注文データ)
    Column names and the 処理状況 values: MakeShop's manual "注文出力用テンプレートの
    設定", https://manual.makeshop.jp/hc/ja/articles/33957532168345 (日付 ``2022/8/10``,
    注文時間 ``103309`` as hhmmss, 注文番号, 処理状況 one of 配送 / 未処理 /
    注文キャンセル / 返送).
    Not verified: the amount, e-mail, member id and item columns (past the part of the
    page we could read): they match by their generic names only (合計金額,
    メールアドレス, 会員ID, 商品名, 数量, 単価 ...), and an export naming them otherwise
    is refused with the missing field named. No customers preset: no public list of
    MakeShop's member CSV columns was found.
"""

from __future__ import annotations

from crm_ingest.domain.csv_columns import RowKind
from crm_ingest.domain.csv_presets import OrderState, Preset, PresetColumn

FUTURESHOP_SOURCE = (
    "https://manual.next-engine.net/main/orders/ord_torikomi-shori/juchu_torikomi/"
    "juchu_futureshop2/6334/"
)
MAKESHOP_SOURCE = "https://manual.makeshop.jp/hc/ja/articles/33957532168345"

MAKESHOP_STATES = {
    "未処理": OrderState(fulfillment_status="unfulfilled"),
    "配送": OrderState(fulfillment_status="fulfilled"),
    "注文キャンセル": OrderState(cancel_reason="cancelled"),
    "返送": OrderState(cancel_reason="returned to sender"),
}
"""MakeShop's 処理状況 values (the manual's list) in our terms: a parcel sent back
(返送) is not a purchase."""

FUTURESHOP_ORDERS = Preset(
    name="futureshop",
    kind=RowKind.ORDERS,
    platform="futureshop",
    label="futureshop 受注データ (FutureShop2形式)",
    source=FUTURESHOP_SOURCE,
    coverage="partial",
    columns=tuple(
        PresetColumn(header, field)
        for header, field in (
            ("受注コード", "order_id"),
            ("注文日時", "placed_at"),
            ("請求合計金額", "total"),
            ("商品合計金額", "subtotal"),
            ("消費税合計", "total_tax"),
            ("送料", "shipping"),
            ("割引合計金額(商品)", "total_discounts"),
            ("電話番号(メイン)", "phone"),
            ("携帯電話番号", "phone"),
            ("商品番号", "sku"),
            ("商品名", "title"),
            ("販売単価", "unit_price"),
            ("購入数量", "quantity"),
        )
    ),
    notes=(
        "Column names from Next Engine's list of futureshop's order CSV items (a third "
        "party's manual). Not verified: the e-mail and member id columns (matched by the "
        "generic names メールアドレス / 会員ID), the status column (not read), the date "
        "format. No customers preset: no public column list found."
    ),
)

MAKESHOP_ORDERS = Preset(
    name="makeshop",
    kind=RowKind.ORDERS,
    platform="makeshop",
    label="MakeShop 注文データ (注文出力用テンプレート)",
    source=MAKESHOP_SOURCE,
    coverage="partial",
    columns=(
        PresetColumn("注文番号", "order_id"),
        PresetColumn("日付", "placed_at"),
        PresetColumn("注文時間", "placed_time"),
        PresetColumn("処理状況", "status"),
    ),
    states=MAKESHOP_STATES,
    notes=(
        "Verified from MakeShop's manual: 日付 + 注文時間 (hhmmss), 注文番号, 処理状況 "
        "(未処理, 配送, 注文キャンセル, 返送). Not verified: amount, e-mail, member id and "
        "item columns, matched by the generic names only (合計金額, メールアドレス, "
        "会員ID, 商品名, 数量, 単価 ...). No customers preset: no public column list found."
    ),
)

ASP_PRESETS = (FUTURESHOP_ORDERS, MAKESHOP_ORDERS)
