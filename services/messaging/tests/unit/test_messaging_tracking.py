import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_messaging.domain.errors import LinkNotAllowed, TokenExpired, TokenInvalid
from crm_messaging.domain.tracking import (
    TrackingClaims,
    peek_tenant,
    resolve_click,
    sign_token,
    url_fingerprint,
    verify_token,
)
from crm_messaging.domain.tracking_links import (
    TrackingContext,
    add_open_pixel,
    rewrite_html,
    rewrite_text,
)

KEY = b"secret"
EXPIRES = datetime(2024, 8, 1, tzinfo=UTC)
BEFORE = EXPIRES - timedelta(seconds=1)
OPEN = TrackingClaims("open", "t1", "m1", EXPIRES)
OPEN_TOKEN = "WzEsIm8iLCJ0MSIsIm0xIiwxNzIyNDcwNDAwLG51bGwsbnVsbF0.ditezT8GLBf-NDkg14rK_w"
LINKS = ["https://shop.example.jp/p/1", "https://shop.example.jp/p/2?a=1&b=2"]
CTX = TrackingContext("https://t.example.jp/", "t1", "m1", KEY, EXPIRES)


def test_token_format_is_pinned_and_independently_checkable() -> None:
    assert sign_token(OPEN, KEY) == OPEN_TOKEN
    payload, mac = OPEN_TOKEN.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert body == [1, "o", "t1", "m1", 1722470400, None, None]
    expected = hmac.new(KEY, b"crm-track-v1." + payload.encode(), hashlib.sha256).digest()[:16]
    assert base64.urlsafe_b64decode(mac + "==") == expected


def test_verify_returns_claims_until_expiry() -> None:
    assert verify_token(OPEN_TOKEN, [KEY], BEFORE, "open") == OPEN
    with pytest.raises(TokenExpired):
        verify_token(OPEN_TOKEN, [KEY], EXPIRES, "open")


def test_wrong_key_kind_or_garbage_is_invalid() -> None:
    with pytest.raises(TokenInvalid, match="signature"):
        verify_token(OPEN_TOKEN, [b"other"], BEFORE, "open")
    with pytest.raises(TokenInvalid, match="expected a click token"):
        verify_token(OPEN_TOKEN, [KEY], BEFORE, "click")
    for garbage in ["", "abc", "a.b.c", "ｘ.y", "!!!.???"]:
        with pytest.raises(TokenInvalid):
            verify_token(garbage, [KEY], BEFORE, "open")


def test_rotated_key_still_verifies_and_tenant_is_peekable() -> None:
    assert verify_token(OPEN_TOKEN, [b"new", KEY], BEFORE, "open") == OPEN
    assert peek_tenant(OPEN_TOKEN) == "t1"


def test_click_url_resolves_only_to_the_signed_link() -> None:
    url = CTX.click_url(0, LINKS[0])
    assert url == (
        "https://t.example.jp/c/WzEsImMiLCJ0MSIsIm0xIiwxNzIyNDcwNDAwLDAsIjQ4OThmY2VkMWJiNTIx"
        "NmUiXQ.i_DK8LQ5rXB4GIG09NCzhg"
    )
    token = url.rsplit("/", 1)[1]
    claims, target = resolve_click(token, [KEY], BEFORE, LINKS)
    assert target == "https://shop.example.jp/p/1"
    assert (claims.link_index, claims.url_fingerprint) == (0, "4898fced1bb5216e")
    with pytest.raises(LinkNotAllowed, match="does not match"):
        resolve_click(token, [KEY], BEFORE, ["https://evil.example/", LINKS[0]])
    with pytest.raises(LinkNotAllowed, match="index"):
        resolve_click(token, [KEY], BEFORE, [])


def test_open_token_cannot_be_used_as_click() -> None:
    with pytest.raises(TokenInvalid):
        resolve_click(OPEN_TOKEN, [KEY], BEFORE, LINKS)


def test_unsubscribe_url_verifies_as_unsubscribe() -> None:
    token = CTX.unsubscribe_url().removeprefix("https://t.example.jp/u/")
    assert verify_token(token, [KEY], BEFORE, "unsubscribe").message_id == "m1"


def test_rewrite_html_links_in_list_only() -> None:
    html = (
        '<a href="https://shop.example.jp/p/2?a=1&amp;b=2">x</a> '
        "<A class='b' HREF='https://shop.example.jp/p/1'>y</A> "
        '<a href="mailto:a@b.jp">m</a> <a href="https://t.example.jp/u/abc">unsub</a>'
    )
    rewritten = rewrite_html(html, LINKS, CTX)
    first = CTX.click_url(1, LINKS[1])
    second = CTX.click_url(0, LINKS[0])
    assert rewritten == (
        f'<a href="{first}">x</a> '
        f"<A class='b' HREF='{second}'>y</A> "
        '<a href="mailto:a@b.jp">m</a> <a href="https://t.example.jp/u/abc">unsub</a>'
    )


def test_rewrite_text_keeps_trailing_punctuation() -> None:
    text = "詳細 https://shop.example.jp/p/1。 other https://else.example/x."
    assert rewrite_text(text, LINKS, CTX) == (
        f"詳細 {CTX.click_url(0, LINKS[0])}。 other https://else.example/x."
    )


def test_open_pixel_goes_before_body_end() -> None:
    pixel = f'<img src="{CTX.open_url()}" width="1" height="1" alt="" style="display:none">'
    assert add_open_pixel("<html><body>hi</body></html>", CTX) == (
        f"<html><body>hi{pixel}</body></html>"
    )
    assert add_open_pixel("hi", CTX) == f"hi{pixel}"


_claims = st.builds(
    TrackingClaims,
    kind=st.sampled_from(["open", "click", "unsubscribe"]),
    tenant_id=st.text(min_size=1, max_size=20),
    message_id=st.text(min_size=1, max_size=40),
    expires_at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ).map(lambda d: d.replace(microsecond=0)),
    link_index=st.none() | st.integers(0, 50),
    url_fingerprint=st.none() | st.text(alphabet="0123456789abcdef", min_size=16, max_size=16),
)


@given(claims=_claims, offset=st.integers(-(10**6), 10**6), key=st.binary(min_size=1, max_size=32))
def test_untampered_token_verifies_iff_unexpired(
    claims: TrackingClaims, offset: int, key: bytes
) -> None:
    token = sign_token(claims, key)
    now = claims.expires_at + timedelta(seconds=offset)
    if offset < 0:
        assert verify_token(token, [key], now, claims.kind) == claims
    else:
        with pytest.raises(TokenExpired):
            verify_token(token, [key], now, claims.kind)


@given(claims=_claims, data=st.data())
def test_any_single_character_change_is_rejected(
    claims: TrackingClaims, data: st.DataObject
) -> None:
    token = sign_token(claims, KEY)
    index = data.draw(st.integers(0, len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    replacement = data.draw(st.sampled_from(alphabet).filter(lambda c: c != token[index]))
    tampered = token[:index] + replacement + token[index + 1 :]
    with pytest.raises(TokenInvalid):
        verify_token(tampered, [KEY], claims.expires_at - timedelta(days=1), claims.kind)


def test_fingerprint_is_sha256_prefix() -> None:
    assert url_fingerprint(LINKS[0]) == hashlib.sha256(LINKS[0].encode()).hexdigest()[:16]
