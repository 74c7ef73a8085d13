"""Pure pieces of the service around the domain: raw envelope, signatures, CSV
encoding and chunking, the load generator's determinism."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from crm_common.events import stable_event_id
from crm_ingest.csvfile import ChunkReader, canonical_encoding, detect_encoding
from crm_ingest.domain import TenantContext, normalize_shopify
from crm_ingest.handlers.webhooks import sign, verify_signature
from crm_ingest.loadgen_shop import Shop
from crm_ingest.normalizer import make_decoder
from crm_ingest.raw_record import RawRecord, parse_raw_record, to_webhook

RECEIVED = datetime(2024, 6, 1, 3, 0, tzinfo=UTC)


def _record(body: bytes, topic: str = "orders/create") -> RawRecord:
    return RawRecord(
        tenant_id="t1",
        currency="JPY",
        timezone="Asia/Tokyo",
        shop_domain="tea.myshopify.com",
        topic=topic,
        webhook_id="wh-1",
        received_at=RECEIVED,
        body=body,
        headers={"x-shopify-topic": topic},
        triggered_at="2024-06-01T02:59:58Z",
        api_version="2024-10",
    )


def test_raw_record_round_trips_the_body_byte_for_byte() -> None:
    body = '{"id": 1,\n "note": "お茶 \\u00e9 \\"q\\""}'.encode()

    back = parse_raw_record(_record(body).to_bytes())

    assert back == _record(body)
    webhook, tenant = to_webhook(back)
    assert webhook.body == {"id": 1, "note": 'お茶 é "q"'}
    assert webhook.triggered_at == datetime(2024, 6, 1, 2, 59, 58, tzinfo=UTC)
    assert tenant == TenantContext("t1", "JPY", "Asia/Tokyo")
    assert back.record_id == stable_event_id("shopify-raw", "tea.myshopify.com", "wh-1")


def test_decoder_names_the_field_of_an_unmappable_payload() -> None:
    decode = make_decoder()

    with pytest.raises(ValueError) as caught:
        decode(_record(b'{"id": 1, "total_price": "x"}').to_bytes())

    assert str(caught.value).startswith("orders/create: ")
    with pytest.raises(ValueError, match=r"^not a raw record"):
        decode(b'{"v": 9}')


def test_signature_accepts_any_active_secret_only() -> None:
    body = b'{"id": 1}'

    assert verify_signature(body, sign(body, "new-secret"), ("old-secret", "new-secret"))
    assert not verify_signature(body, sign(body, "other"), ("old-secret", "new-secret"))
    assert not verify_signature(body + b" ", sign(body, "old-secret"), ("old-secret",))
    assert not verify_signature(body, sign(body, "old-secret"), ())


def test_encoding_detection_and_names(tmp_path: Path) -> None:
    sjis, utf8 = tmp_path / "sjis.csv", tmp_path / "utf8.csv"
    sjis.write_bytes("姓,名\n山田,太郎\n".encode("cp932"))
    utf8.write_bytes("姓,名\n山田,太郎\n".encode())

    assert (detect_encoding(sjis), detect_encoding(utf8)) == ("cp932", "utf-8")
    assert canonical_encoding("Shift_JIS") == "cp932"
    with pytest.raises(ValueError, match="unsupported encoding"):
        canonical_encoding("latin-1")


def test_chunk_reader_numbers_lines_where_rows_start(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text('a,b\n1,"x\ny"\n2,z\n\n3,w\n', encoding="utf-8")
    reader = ChunkReader(path, "utf-8")

    rows = reader.read(10)
    reader.close()

    assert [(line, row["a"]) for line, row in rows] == [(2, "1"), (4, "2"), (6, "3")]


def test_load_generator_is_deterministic_and_normalizable() -> None:
    first, second = Shop(3, 40, 365).webhooks(), Shop(3, 40, 365).webhooks()

    assert [(w.webhook_id, w.body) for w in first] == [(w.webhook_id, w.body) for w in second]
    topics = {w.topic for w in first}
    assert {"customers/create", "orders/create", "orders/paid"} <= topics
    for w in first:
        record = _record(orjson.dumps(w.body), w.topic)
        assert normalize_shopify(*to_webhook(record))
