"""The MIME message for one email: multipart text + HTML, one-click unsubscribe headers.

Built with the compat32 MIME classes: the modern ``EmailMessage`` header
machinery costs milliseconds per message on Japanese headers, which is most of
the CPU of a send.
"""

from __future__ import annotations

from datetime import datetime
from email.charset import BASE64, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr

from crm_messaging.domain.bounces import verp_address
from crm_messaging.domain.tenant_settings import Sender

_WIRE = compat32.clone(linesep="\r\n", max_line_length=998)  # no folding of ASCII headers
_UTF8 = Charset("utf-8")
_UTF8.header_encoding = BASE64
_UTF8.body_encoding = BASE64


def domain_of(address: str) -> str:
    return address.rpartition("@")[2] or "localhost"


def from_address(sender: Sender, default: str) -> str:
    return sender.from_address or default


def envelope_sender(message_id: str, sender: Sender, default_from: str) -> str:
    """The VERP Return-Path of one message: bounces come back naming it."""
    domain = sender.bounce_domain or domain_of(from_address(sender, default_from))
    return verp_address(message_id, domain)


def _text_part(body: str, subtype: str, top: bool) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(body, charset=_UTF8)
    if not top:
        del part["MIME-Version"]  # only the top-level entity carries it
    return part


def _body(parts: dict[str, str]) -> MIMENonMultipart | MIMEMultipart:
    text, html = parts.get("text"), parts.get("html")
    if text is not None and html is not None:
        alternative = MIMEMultipart("alternative")
        alternative.attach(_text_part(text, "plain", top=False))
        alternative.attach(_text_part(html, "html", top=False))
        return alternative
    if text is not None:
        return _text_part(text, "plain", top=True)
    return _text_part(html or "", "html", top=True)


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, _UTF8).encode()


def build_email(
    *,
    message_id: str,
    sender: Sender,
    default_from: str,
    to: str,
    parts: dict[str, str],
    unsubscribe_url: str,
    now: datetime,
) -> bytes:
    """The message as it goes over SMTP DATA (CRLF line ends)."""
    address = from_address(sender, default_from)
    domain = domain_of(address)
    mail = _body(parts)
    name = _header(sender.from_name) if sender.from_name else ""
    mail["From"] = formataddr((name, address)) if name else address
    mail["To"] = to
    if sender.reply_to:
        mail["Reply-To"] = sender.reply_to
    mail["Subject"] = _header(parts.get("subject", ""))
    mail["Date"] = format_datetime(now)
    # The message id is derived from ours: a resend after a crash carries the same one.
    mail["Message-ID"] = f"<{message_id}@{domain}>"
    mailto = sender.unsubscribe_mailto or f"unsubscribe@{domain}"
    mailto_url = f"mailto:{mailto}?subject=unsubscribe-{message_id}"
    mail["List-Unsubscribe"] = f"<{mailto_url}>, <{unsubscribe_url}>"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return mail.as_bytes(policy=_WIRE)
