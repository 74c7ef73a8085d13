from __future__ import annotations

import logging

import orjson

from crm_common.logging import JsonFormatter, scrub


def _format(msg: str, **extra: object) -> dict:  # type: ignore[type-arg]
    record = logging.LogRecord("crm.test", logging.INFO, __file__, 1, msg, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return orjson.loads(JsonFormatter("profile").format(record))


def test_personal_fields_and_secrets_are_redacted() -> None:
    entry = _format(
        "customer updated",
        email="taro@example.jp",
        phone="+819012345678",
        address={"city": "渋谷区"},
        api_key="sk_live_1",
        tenant_id="shop-1",
        count=3,
    )
    assert entry["email"] == entry["phone"] == entry["address"] == entry["api_key"] == "[redacted]"
    assert entry["tenant_id"] == "shop-1" and entry["count"] == 3
    assert entry["service"] == "profile" and entry["level"] == "info"


def test_pii_inside_free_text_is_masked() -> None:
    entry = _format(
        "could not parse taro@example.jp / 090-1234-5678", error="bad hanako@example.com"
    )
    assert entry["msg"] == "could not parse [email] / [phone]"
    assert entry["error"] == "bad [email]"


def test_url_encoded_pii_in_request_lines_is_masked() -> None:
    entry = _format("GET /v1/profiles?email=Hanako%40Example.jp&phone=%2B819012345678 HTTP/1.1")
    assert entry["msg"] == "GET /v1/profiles?email=[email]&phone=[phone] HTTP/1.1"


def test_scrub_leaves_ordinary_numbers_alone() -> None:
    assert scrub("order 1001 total 10800 JPY") == "order 1001 total 10800 JPY"


def test_values_quoted_by_database_and_validation_errors_are_masked() -> None:
    text = (
        'IntegrityError: duplicate key value violates unique constraint "uq_email"\n'
        "DETAIL:  Key (email)=(Hanako Yamada <hy@example.jp>) already exists.\n"
        "[SQL: INSERT INTO people (email, name) VALUES ($1::VARCHAR, $2::VARCHAR)]\n"
        "[parameters: ('hy@example.jp', '山田 花子')]\n"
        "DETAIL:  Failing row contains (1, 山田, null).\n"
        "birthday\n  Input should be a valid date [type=date_from_datetime_parsing, "
        "input_value='Hanako 山田', input_type=str]\n"
        "invalid input for query argument $2: '山田' (expected str)\n"
        'invalid input syntax for type integer: "山田"'
    )
    masked = scrub(text)
    assert "山田" not in masked and "Hanako" not in masked and "hy@" not in masked
    assert "Key (email)=[redacted]" in masked and "[parameters: redacted]" in masked
    assert "input_value=[redacted], input_type=str" in masked
    assert "[SQL: INSERT INTO people (email, name)" in masked  # where it failed stays
    assert scrub("line_items[250].quantity: not an integer: 'many'").endswith("'many'")
