"""CSV import rows: Japanese/English headers, cleansing, Shift_JIS content, grouping."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_common.events import stable_event_id
from crm_common.events.customers import Channel, ConsentState
from crm_ingest.domain import (
    HeaderError,
    OrderGrouper,
    RowError,
    RowMapper,
    TenantContext,
    row_fingerprint,
)

NOW = datetime(2024, 6, 1, 3, 0, tzinfo=UTC)
TENANT = TenantContext(tenant_id="t-jp")

CUSTOMERS_JA = (
    "顧客ID,メールアドレス,電話番号,姓,名,ｾｲ,ﾒｲ,郵便番号,都道府県,"
    "住所1,住所2,生年月日,性別,メルマガ,会員ランク\n"
    "１２３,ＴＡＲＯ@Example.COM ,０９０－１２３４－５６７８,山田,太郎,ﾔﾏﾀﾞ,ﾀﾛｳ,"
    "〒１００－０００１,東京,"
    "千代田区千代田１－１,ＡＢＣビル　３Ｆ,1985/4/1,男性,1,ゴールド\n"
)


def rows_of(text: str):
    reader = csv.DictReader(io.StringIO(text))
    return reader.fieldnames, list(reader)


def via_shift_jis(text: str) -> str:
    """What a CSV exported by a Japanese cart looks like once decoded."""
    return text.encode("cp932").decode("cp932")


def test_customer_row_from_shift_jis_export():
    header, rows = rows_of(via_shift_jis(CUSTOMERS_JA))
    mapper = RowMapper("customers", header, TENANT, received_at=NOW, source="futureshop")

    event = mapper.map_row(rows[0])

    assert event.type == "customer.upserted"
    assert (event.source, event.occurred_at) == ("futureshop", NOW)
    assert event.identity.external_ids == {"futureshop": "123"}
    assert event.identity.email == "taro@example.com"
    assert event.identity.phone == "+819012345678"
    data = event.data
    assert (data.last_name, data.first_name) == ("山田", "太郎")
    assert (data.last_name_kana, data.first_name_kana) == ("ヤマダ", "タロウ")
    assert data.address.postal_code == "100-0001"
    assert data.address.prefecture == "東京都"
    assert data.address.address1 == "千代田区千代田1-1"
    assert data.address.address2 == "ABCビル 3F"
    assert data.birthday == date(1985, 4, 1)
    assert data.gender == "male"
    assert [(c.channel, c.state, c.source) for c in data.consents] == [
        (Channel.EMAIL, ConsentState.SUBSCRIBED, "futureshop")
    ]
    assert data.properties == {"会員ランク": "ゴールド"}
    assert data.tags is None


def test_customer_row_with_english_headers_and_timestamps():
    text = (
        "customer_id,email,phone,last_name,first_name,postal_code,prefecture,birthday,"
        "email_consent,updated_at,tags\n"
        "c-9,hana@example.jp,+81 3-1234-5678,Sato,Hana,5300001,osaka,1990年12月31日,no,"
        '2024/05/31 21:14,"VIP, リピーター"\n'
    )
    header, rows = rows_of(text)

    event = RowMapper("customers", header, TENANT, received_at=NOW).map_row(rows[0])

    assert event.identity.external_ids == {"csv": "c-9"}
    assert event.identity.phone == "+81312345678"
    assert event.data.address.postal_code == "530-0001"
    assert event.data.address.prefecture == "大阪府"
    assert event.data.birthday == date(1990, 12, 31)
    assert event.data.updated_at == datetime(2024, 5, 31, 12, 14, tzinfo=UTC)  # Asia/Tokyo
    assert event.occurred_at == datetime(2024, 5, 31, 12, 14, tzinfo=UTC)
    assert event.data.tags == ["VIP", "リピーター"]
    [consent] = event.data.consents
    assert consent.state == ConsentState.UNSUBSCRIBED
    assert consent.collected_at == datetime(2024, 5, 31, 12, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("メールアドレス", "taro@", "メールアドレス: not an email address: 'taro@'"),
        ("電話番号", "12", "電話番号: not a phone number: '12'"),
        ("郵便番号", "１２３－４５", "郵便番号: not a postal code: '123-45'"),
        ("都道府県", "東京府", "都道府県: not a prefecture: '東京府'"),
        ("生年月日", "1985/02/30", "生年月日: not a date: '1985-02-30'"),
        ("メルマガ", "たぶん", "メルマガ: not a yes/no value: 'たぶん'"),
    ],
)
def test_bad_customer_cell_rejects_the_row(column, value, reason):
    header, rows = rows_of(CUSTOMERS_JA)
    mapper = RowMapper("customers", header, TENANT, received_at=NOW)

    result = mapper.map_row({**rows[0], column: value})

    assert isinstance(result, RowError)
    assert result.column == column
    assert result.reason == reason


def test_row_without_identity_is_rejected():
    header, rows = rows_of(CUSTOMERS_JA)
    row = {**rows[0], "顧客ID": "", "メールアドレス": " ", "電話番号": ""}

    result = RowMapper("customers", header, TENANT, received_at=NOW).map_row(row)

    assert result == RowError(
        None, "no customer identity: 顧客ID / メールアドレス / 電話番号 is empty"
    )


def test_header_errors():
    with pytest.raises(
        HeaderError, match="customers: missing column for customer_id or email or phone"
    ):
        RowMapper("customers", ["姓", "名"], TENANT, received_at=NOW)
    with pytest.raises(HeaderError, match="columns 'メールアドレス' and 'email' both mean email"):
        RowMapper("customers", ["メールアドレス", "email"], TENANT, received_at=NOW)
    with pytest.raises(HeaderError, match="orders: missing column for total"):
        RowMapper("orders", ["受注番号", "受注日時", "顧客ID"], TENANT, received_at=NOW)


ORDERS_JA = (
    "受注番号,受注日時,合計金額,顧客ID,メールアドレス,商品コード,商品名,数量,単価,カテゴリ,定期\n"
    'A-1,2024/01/05 10:30,"￥３，９６０",123,taro@example.com,SKU-1,青汁,２,"1,980円",健康,1\n'
    'A-1,2024/01/05 10:30,"￥３，９６０",123,taro@example.com,SKU-2,シェイカー,1,0,雑貨,1\n'
    "A-2,2024-01-06,1000,124,,SKU-3,お試し,,1000,,0\n"
)


def map_orders(text: str):
    header, rows = rows_of(text)
    mapper = RowMapper("orders", header, TENANT, received_at=NOW, source="makeshop")
    grouper, done, errors = OrderGrouper(), [], []
    for line_no, row in enumerate(rows, start=2):
        result = mapper.map_row(row)
        if isinstance(result, RowError):
            errors.append((line_no, result.reason))
        elif (finished := grouper.add(result, line_no)) is not None:
            done.append(finished)
    if (finished := grouper.flush()) is not None:
        done.append(finished)
    return done, errors


def test_order_rows_are_grouped_per_order():
    orders, errors = map_orders(via_shift_jis(ORDERS_JA))

    assert errors == []
    assert [o.data.order_id for o in orders] == ["A-1", "A-2"]
    first = orders[0]
    assert first.type == "order.placed"
    assert first.identity.external_ids == {"makeshop": "123"}
    assert first.identity.email == "taro@example.com"
    assert first.data.placed_at == datetime(2024, 1, 5, 1, 30, tzinfo=UTC)
    assert first.occurred_at == datetime(2024, 1, 5, 1, 30, tzinfo=UTC)
    assert (first.data.currency, first.data.total) == ("JPY", Decimal("3960"))
    assert first.data.kind == "subscription"
    assert [(line.sku, line.title, line.quantity, line.unit_price.amount, line.category)
            for line in first.data.lines] == [
        ("SKU-1", "青汁", 2, Decimal("1980"), "健康"),
        ("SKU-2", "シェイカー", 1, Decimal("0"), "雑貨"),
    ]  # fmt: skip
    second = orders[1]
    assert second.data.placed_at == datetime(2024, 1, 5, 15, 0, tzinfo=UTC)
    assert second.data.kind == "regular"
    assert second.data.lines[0].quantity == 1


def test_placement_ids_name_the_order_and_state_ids_its_content():
    header, _ = rows_of(ORDERS_JA)
    mapper = RowMapper("orders", header, TENANT, received_at=NOW, source="makeshop")
    once, _ = map_orders(ORDERS_JA)
    again, _ = map_orders(via_shift_jis(ORDERS_JA))
    changed, _ = map_orders(ORDERS_JA.replace("お試し", "お試しセット"))
    states = [[mapper.facts(o)[1] for o in orders] for orders in (once, again, changed)]

    assert [o.event_id for o in once] == [o.event_id for o in again]
    assert [o.event_id for o in once] == [o.event_id for o in changed]  # one placement each
    assert once[0].event_id == stable_event_id("t-jp", "makeshop", "order.placed", "once", "A-1")
    assert [s.event_id for s in states[0]] == [s.event_id for s in states[1]]
    assert states[0][0].event_id == states[2][0].event_id
    assert states[0][1].event_id != states[2][1].event_id  # A-2 changed: a new state
    assert states[2][1].type == "order.updated"
    assert states[2][1].data.lines[0].title == "お試しセット"
    assert states[2][1].occurred_at == NOW  # no 更新日時 column: stamped with the upload


def test_an_order_update_is_stamped_with_its_updated_at():
    text = (
        "受注番号,受注日時,更新日時,合計金額,メールアドレス,商品名,単価,入金状況,発送状況\n"
        "C-1,2024/01/05 10:30,2024/01/07 09:00,0,a@b.jp,サンプル,0,入金済み,発送済み\n"
    )
    header, _ = rows_of(text)
    mapper = RowMapper("orders", header, TENANT, received_at=NOW)
    [order], errors = map_orders(text)

    placed, updated = mapper.facts(order)

    assert errors == []
    assert (placed.occurred_at, updated.occurred_at) == (
        datetime(2024, 1, 5, 1, 30, tzinfo=UTC),
        datetime(2024, 1, 7, 0, 0, tzinfo=UTC),
    )
    assert (updated.data.financial_status, updated.data.fulfillment_status) == (
        "入金済み",
        "発送済み",
    )


@pytest.mark.parametrize(
    ("written", "currency", "total"),
    [
        ("0", "JPY", Decimal("0")),
        ("0.00", "JPY", Decimal("0")),
        ("０", "JPY", Decimal("0")),
        ("¥0", "JPY", Decimal("0")),
        ("0.00", "USD", Decimal("0.00")),
    ],
)
def test_a_zero_total_is_an_amount(written, currency, total):
    text = (
        "order_id,placed_at,total,currency,email,title,unit_price\n"
        f"Z-1,2024-01-05,{written},{currency},a@b.jp,Sample,0\n"
    )
    [order], errors = map_orders(text)

    assert errors == []
    assert order.data.total == total
    assert order.data.lines[0].unit_price.amount == 0


@pytest.mark.parametrize("written", ["", " ", "　"])
def test_an_empty_total_is_missing(written):
    text = (
        "order_id,placed_at,total,email,title,unit_price\n"
        f"Z-1,2024-01-05,{written},a@b.jp,Sample,0\n"
    )
    orders, errors = map_orders(text)

    assert (orders, errors) == ([], [(2, "total: missing")])


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("合計金額", "1,980.5", "合計金額: more decimal places than JPY allows: '1980.5'"),
        ("合計金額", "", "合計金額: missing"),
        ("受注日時", "2024/13/01", "受注日時: not a date/time: '2024-13-01'"),
        ("数量", "two", "数量: not a quantity: 'two'"),
        ("単価", "", "単価: missing"),
        ("定期", "maybe", "定期: not a yes/no value: 'maybe'"),
    ],
)
def test_bad_order_cell_rejects_the_row(column, value, reason):
    header, rows = rows_of(ORDERS_JA)
    mapper = RowMapper("orders", header, TENANT, received_at=NOW)

    result = mapper.map_row({**rows[0], column: value})

    assert isinstance(result, RowError)
    assert result.reason == reason


def test_order_type_column_and_offsets():
    text = (
        "order_id,placed_at,total,email,sku,title,quantity,unit_price,order_type\n"
        "B-1,2024-01-05T10:30:00+00:00,500,a@b.jp,S,T,1,500,頒布会\n"
        "B-2,2024-01-05T10:30:00Z,500,a@b.jp,S,T,1,500,予約\n"
    )
    orders, errors = map_orders(text)

    assert errors == []
    assert [o.data.kind for o in orders] == ["hanpukai", "pre_order"]
    assert orders[0].data.placed_at == datetime(2024, 1, 5, 10, 30, tzinfo=UTC)


def test_row_fingerprint_ignores_width_and_spaces():
    row = {"顧客ID": "１２３", "メールアドレス": " taro@example.com"}

    assert row_fingerprint(row) == row_fingerprint(
        {"顧客ID": "123", "メールアドレス": "taro@example.com"}
    )
    assert row_fingerprint(row) != row_fingerprint(
        {"顧客ID": "124", "メールアドレス": "taro@example.com"}
    )


@given(
    digits=st.text(alphabet="0123456789", min_size=7, max_size=7),
    full_width=st.booleans(),
)
def test_postal_codes_in_any_width_normalize_alike(digits, full_width):
    written = (
        digits.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        if full_width
        else digits
    )
    header, rows = rows_of(CUSTOMERS_JA)
    mapper = RowMapper("customers", header, TENANT, received_at=NOW)

    event = mapper.map_row({**rows[0], "郵便番号": written})

    assert event.data.address.postal_code == f"{digits[:3]}-{digits[3:]}"
