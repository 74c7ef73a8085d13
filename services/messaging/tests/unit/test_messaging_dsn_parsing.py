"""VERP addresses and DSN parsing (pure)."""

from __future__ import annotations

import pytest

from crm_messaging.domain.bounces import (
    DsnError,
    bounce_reason,
    message_id_from_verp,
    parse_dsn,
    status_in,
    verp_address,
)

DSN = (
    b"From: MAILER-DAEMON@mx.example.jp\r\n"
    b"To: shop@shop.example.jp\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nbounced\r\n"
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mx.example.jp\r\n\r\n"
    b"Original-Recipient: rfc822;bounce+m-1@shop.example.jp\r\n"
    b"Final-Recipient: rfc822; a@example.jp\r\nAction: failed\r\nStatus: 5.7.1 (denied)\r\n\r\n"
    b"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <m-2@shop.example.jp>\r\n\r\n"
    b"--b--\r\n"
)


def test_verp_round_trip() -> None:
    address = verp_address("0b9d-11", "bounces.example.jp")
    assert address == "bounce+0b9d-11@bounces.example.jp"
    assert message_id_from_verp(f"<{address}>") == "0b9d-11"
    assert message_id_from_verp("someone+x@example.jp") is None


def test_parse_dsn_prefers_verp_then_returned_message_id() -> None:
    dsn = parse_dsn(DSN)
    assert (dsn.message_ids, dsn.status, dsn.action, dsn.severity) == (
        ("m-1", "m-2"),
        "5.7.1",
        "failed",
        "hard",
    )


def test_reasons_and_status_codes() -> None:
    assert (bounce_reason("hard", "5.1.1"), bounce_reason("soft", "4.2.2")) == (
        "hard:5.1.1",
        "soft:4.2.2",
    )
    assert (status_in("550 5.1.1 <x@example.jp> unknown"), status_in("bad")) == ("5.1.1", None)


def test_missing_parts_are_named() -> None:
    with pytest.raises(DsnError, match="empty body"):
        parse_dsn(b"  ")
    without_status = DSN.replace(b"Status: 5.7.1 (denied)\r\n", b"")
    with pytest.raises(DsnError, match="no Status field"):
        parse_dsn(without_status)
