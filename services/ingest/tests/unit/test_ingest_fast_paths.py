"""The write path's shortcuts give exactly what the plain path gave: an order's head
read once per order, its state built without validating it again, each event
encoded once, cheaper line numbers and fingerprints. Ids are stored (one fact, one
event), so they are pinned against the plain algorithm, not against the new code."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_common.events import OrderUpdated, encode_event, stable_event_id
from crm_common.outbox import outbox_row
from crm_ingest.csvfile import ChunkReader
from crm_ingest.domain import RowError, RowMapper, TenantContext, row_fingerprint
from crm_ingest.domain.facts import order_state, payloads, tellings, told

NOW = datetime(2024, 6, 1, 3, 0, tzinfo=UTC)
TENANT = TenantContext("t-jp", "JPY", "Asia/Tokyo")
HEADER = [
    "受注番号", "受注日時", "更新日時", "会員ID", "メールアドレス", "電話番号", "合計金額",
    "送料", "入金状況", "商品コード", "商品名", "数量", "単価",
]  # fmt: skip


def order_rows() -> list[dict[str | None, str]]:
    cells = [
        ["A-1", "2024/01/05 10:30", "", "M1", "a@example.jp", "090-1234-5678", "3,300", "550",
         "入金済み", "SKU-1", "煎茶", "2", "1100"],
        ["A-1", "2024/01/05 10:30", "", "M1", "a@example.jp", "090-1234-5678", "3,300", "550",
         "入金済み", "SKU-2", "ほうじ茶", "1", "1100"],
        ["A-1", "2024/01/05 10:30", "", "M1", "a@example.jp", "090-1234-5678", "3,300", "550",
         "入金済み", "SKU-3", "", "x", "1100"],  # a bad line of a good order
        ["A-2", "2024/01/06 09:00", "2024/01/07 12:00", "M2", "not-an-email", "", "1000",
         "0", "", "SKU-1", "煎茶", "1", "1000"],  # a bad order: every row refused alike
        ["A-2", "2024/01/06 09:00", "2024/01/07 12:00", "M2", "not-an-email", "", "1000",
         "0", "", "SKU-2", "ほうじ茶", "1", "1000"],
        ["A-3", "9999/12/31 23:59", "", "M3", "", "", "1000", "0", "", "SKU-1", "煎茶", "x",
         "1000"],  # the line's own problem is told before the model's refusal of the order
        ["A-4", "0001/01/01 00:00", "", "M4", "", "", "1000", "0", "", "SKU-1", "煎茶", "1",
         "1000"],  # year 0 in UTC: a rejected row, not a failed import
        ["A-5", "2024-02-01T08:00:00+09:00", "", "M5", "", "０８０１２３４５６７８", "2200", "",
         "", "SKU-9", "抹茶", "２", "1100"],
        ["A-5", "2024-02-01T08:00:00+09:00", "", "M5", "", "０８０１２３４５６７８", "2200", "",
         "", "", "", "", ""],  # an order-only row
    ]  # fmt: skip
    return [dict(zip(HEADER, row, strict=True)) for row in cells]


def test_order_head_read_once_maps_every_row_as_a_fresh_mapper_would() -> None:
    rows = order_rows()
    shared = RowMapper("orders", HEADER, TENANT, received_at=NOW, source="makeshop")

    results = [shared.map_row(row) for row in rows]
    fresh = [
        RowMapper("orders", HEADER, TENANT, received_at=NOW, source="makeshop").map_row(row)
        for row in rows
    ]

    assert results == fresh
    errors = [r.reason for r in results if isinstance(r, RowError)]
    assert errors == [
        "数量: not a quantity: 'x'",
        "メールアドレス: not an email address: 'not-an-email'",
        "メールアドレス: not an email address: 'not-an-email'",
        "数量: not a quantity: 'x'",
        "受注日時: not a date/time of years 2 to 9998: '0001-01-01 00:00'",
    ]
    assert results[7].identity.phone == "+818012345678"
    assert results[8].data.lines == []


def _state_before(placed: object, observed_at: datetime) -> OrderUpdated:
    """How the order's state was made before: validated, then its id from its dumps."""
    data = placed.data  # type: ignore[attr-defined]
    state = OrderUpdated(
        event_id=placed.event_id,  # type: ignore[attr-defined]
        tenant_id=placed.tenant_id,  # type: ignore[attr-defined]
        source=placed.source,  # type: ignore[attr-defined]
        occurred_at=data.updated_at if data.updated_at is not None else observed_at,
        received_at=placed.received_at,  # type: ignore[attr-defined]
        identity=placed.identity,  # type: ignore[attr-defined]
        data=data,
    )
    stated = {
        "identity": state.identity.model_dump(mode="json", exclude_defaults=True),
        "data": state.data.model_dump(mode="json"),
        "at": data.updated_at.isoformat() if data.updated_at is not None else None,
    }
    digest = hashlib.sha256(orjson.dumps(stated, option=orjson.OPT_SORT_KEYS)).hexdigest()
    event_id = stable_event_id(state.tenant_id, state.source, state.type, "state", digest)
    return state.model_copy(update={"event_id": event_id})


def test_order_state_and_its_encoding_equal_the_validated_path() -> None:
    mapper = RowMapper("orders", HEADER, TENANT, received_at=NOW, source="makeshop")
    placed = [r for r in map(mapper.map_row, order_rows()) if not isinstance(r, RowError)]
    observed = datetime(2024, 6, 2, 12, 0, tzinfo=UTC).astimezone()  # not UTC on purpose

    for event in placed:
        fact = told(event, observed)
        state = order_state(event, observed)

        assert fact.events == tellings(event, observed) == (event, state)
        assert fact.payload == encode_event(event)
        expected = _state_before(event, observed)
        assert state.event_id == expected.event_id
        assert encode_event(state) == encode_event(expected)
        assert outbox_row("crm.events.v1", event, fact.payload) == outbox_row(
            "crm.events.v1", event
        )
    assert payloads([told(placed[0], observed)]) == {id(placed[0]): encode_event(placed[0])}


def test_the_placement_id_still_names_the_order() -> None:
    mapper = RowMapper("orders", HEADER, TENANT, received_at=NOW, source="makeshop")

    event = mapper.map_row(order_rows()[0])

    assert event.event_id == stable_event_id("t-jp", "makeshop", "order.placed", "once", "A-1")


def _line_numbers_before(text: str) -> list[int]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    out = []
    for row in reader:
        newlines = sum(v.count("\n") for v in row.values() if isinstance(v, str))
        out.append(reader.line_num - newlines)
    return out


_CELL = st.one_of(
    st.text(alphabet='ab,"\n 煎', max_size=6), st.sampled_from(["", "x", "a\nb", "\n\n"])
)


@settings(max_examples=200)
@given(st.lists(st.lists(_CELL, min_size=1, max_size=3), max_size=12), st.booleans())
def test_row_line_numbers_are_the_lines_where_rows_start(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]], blanks: bool
) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["a", "b", "c"])
    for row in rows:
        writer.writerow(row)
        if blanks:
            out.write("\n")
    text = out.getvalue()
    path = Path(tmp_path_factory.mktemp("csv")) / "rows.csv"
    path.write_text(text, encoding="utf-8", newline="")

    reader = ChunkReader(path, "utf-8")
    lines = [line for line, _ in reader.read(100)]
    reader.close()

    assert lines == _line_numbers_before(text)


def test_row_fingerprints_tell_rows_apart_but_not_their_widths() -> None:
    row = {"a": "ＡＢ  1", "b": "x", None: ["surplus"]}

    assert row_fingerprint(row) == row_fingerprint({"a": "AB 1", "b": " x "})
    assert row_fingerprint({"a": "AB", "b": "1x"}) != row_fingerprint({"a": "AB 1", "b": "x"})
    assert row_fingerprint({"a": "", "b": "x"}) == row_fingerprint({"a": None, "b": "x"})
    assert row_fingerprint({"a": "x", "b": ""}) != row_fingerprint({"a": "", "b": "x"})
