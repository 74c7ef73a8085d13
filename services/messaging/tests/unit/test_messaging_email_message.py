"""The hand-written MIME message reads back, with the standard library, as what was meant."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_messaging.domain.tenant_settings import Sender
from crm_messaging.sending.channels.email_message import build_email

NOW = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
MID = "6f1c3a52-8d0e-5b7a-9c41-0d2e3f4a5b6c"


def _parse(raw: bytes) -> EmailMessage:
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _build(parts: dict[str, str], sender: Sender | None = None) -> bytes:
    return build_email(
        message_id=MID,
        sender=sender or Sender(from_name="ショップ 花", reply_to="help@shop.example.jp"),
        default_from="shop@mail.example.jp",
        to="hanako@example.jp",
        parts=parts,
        unsubscribe_url="https://crm.example.jp/t/u/abc.def",
        now=NOW,
    )


def test_multipart_headers_and_bodies_read_back() -> None:
    parts = {
        "subject": "花子さん、春のセール" * 4,
        "text": "山田 様\nhttps://x.jp/a\n",
        "html": "<p>様</p>",
    }
    raw = _build(parts)
    mail = _parse(raw)
    assert mail["Subject"] == parts["subject"]
    assert str(mail["From"]) == "ショップ 花 <shop@mail.example.jp>"
    assert mail["To"] == "hanako@example.jp"
    assert mail["Reply-To"] == "help@shop.example.jp"
    assert mail["Message-ID"] == f"<{MID}@mail.example.jp>"
    assert mail["Date"] == "Thu, 15 Jan 2026 03:00:00 +0000"
    assert mail["List-Unsubscribe"] == (
        f"<mailto:unsubscribe@mail.example.jp?subject=unsubscribe-{MID}>, "
        "<https://crm.example.jp/t/u/abc.def>"
    )
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.get_content_type() == "multipart/alternative"
    text, html = mail.iter_parts()
    assert (text.get_content_type(), text.get_content()) == ("text/plain", parts["text"])
    assert (html.get_content_type(), html.get_content()) == ("text/html", parts["html"])
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert raw == _build(parts)  # the same message, the same bytes


def test_a_single_part_is_the_whole_body() -> None:
    mail = _parse(_build({"subject": "Sale", "html": "<p>only html</p>"}))
    assert mail.get_content_type() == "text/html"
    assert mail.get_content() == "<p>only html</p>"
    assert mail["MIME-Version"] == "1.0"


def test_a_newline_from_data_never_starts_a_header() -> None:
    raw = _build({"subject": "Hi\r\nBcc: evil@example.com", "text": "t"})
    mail = _parse(raw)
    assert mail["Bcc"] is None
    assert mail["Subject"] == "Hi\r\nBcc: evil@example.com"  # text of the subject
    assert b"\r\nBcc:" not in raw


def test_a_quoted_display_name_and_an_ascii_name() -> None:
    quoted = _parse(_build({"subject": "s", "text": "t"}, Sender(from_name='Shop "A", Tokyo')))
    assert quoted["From"].addresses[0].display_name == 'Shop "A", Tokyo'
    plain = _parse(_build({"subject": "s", "text": "t"}, Sender(from_name="Shop A")))
    assert str(plain["From"]) == "Shop A <shop@mail.example.jp>"


@settings(max_examples=200, deadline=None)
@given(
    subject=st.text(max_size=300),
    text=st.text(max_size=500),
    html=st.text(max_size=500),
)
def test_any_text_reads_back_exactly(subject: str, text: str, html: str) -> None:
    subject = subject.encode("utf-8", "replace").decode("utf-8")
    text = text.encode("utf-8", "replace").decode("utf-8")
    html = html.encode("utf-8", "replace").decode("utf-8")
    raw = _build({"subject": subject, "text": text, "html": html})
    mail = _parse(raw)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert mail["Subject"] == subject
    plain, rich = mail.iter_parts()
    assert plain.get_payload(decode=True).decode("utf-8") == text
    assert rich.get_payload(decode=True).decode("utf-8") == html
    assert mail["Bcc"] is None
