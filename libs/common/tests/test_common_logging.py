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
