"""Bounces: VERP addresses and RFC 3464 delivery status notifications (pure).

Every email goes out with the envelope sender ``bounce+<message_id>@<domain>``,
so a bounce names the message it is about in its recipient. A DSN that lost
that address (forwarded, rewritten) still carries the returned headers with
the ``Message-ID`` our adapter sets: ``<message_id@from domain>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, message_from_string, policy
from email.message import Message
from email.utils import getaddresses
from typing import Literal

Severity = Literal["hard", "soft"]

VERP_PREFIX = "bounce+"
_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_VERP = re.compile(rf"(?:^|[\s<;:,]){re.escape(VERP_PREFIX)}({_ID})@", re.IGNORECASE)
_MESSAGE_ID = re.compile(rf"<({_ID})@[^>]+>")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_RECIPIENT_HEADERS = ("To", "X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To")
_DSN_RECIPIENT_FIELDS = ("Original-Recipient", "Final-Recipient", "X-Actual-Recipient")
_RETURNED = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers")


class DsnError(ValueError):
    """The body is not a DSN we can use; the message names what was missing."""


@dataclass(frozen=True)
class Dsn:
    message_ids: tuple[str, ...]  # candidates, most trusted first (VERP, then Message-ID)
    status: str  # "5.1.1"
    action: str  # "failed", "delayed", ...

    @property
    def severity(self) -> Severity | None:
        """hard for 5.x.x, soft for 4.x.x, None for a success report (2.x.x)."""
        return severity_of(self.status)


def severity_of(status: str) -> Severity | None:
    if status.startswith("5"):
        return "hard"
    if status.startswith("4"):
        return "soft"
    return None


def bounce_reason(severity: Severity, status: str | None) -> str:
    """``data.reason`` of message.bounced: ``hard:5.1.1`` or ``soft:4.2.2`` (the profile
    service suppresses on hard bounces only)."""
    return f"{severity}:{status}" if status else severity


def verp_address(message_id: str, domain: str) -> str:
    return f"{VERP_PREFIX}{message_id}@{domain}"


def message_id_from_verp(text: str) -> str | None:
    found = _VERP.search(text)
    return found.group(1) if found else None


def status_in(text: str) -> str | None:
    """The first enhanced status code (``5.1.1``) in a provider's free text."""
    found = _STATUS.search(text)
    return ".".join(found.groups()) if found else None


def _verp_ids(headers: Message, names: tuple[str, ...]) -> list[str]:
    ids: list[str] = []
    for name in names:
        for value in headers.get_all(name) or []:
            for _, address in getaddresses([str(value).split(";", 1)[-1]]):
                found = message_id_from_verp(address)
                if found:
                    ids.append(found)
    return ids


def _returned_message_id(part: Message) -> str | None:
    payload = part.get_payload()
    if isinstance(payload, list):
        returned = payload[0] if payload else None
    else:
        returned = message_from_string(str(part.get_payload(decode=False)), policy=policy.compat32)
    if not isinstance(returned, Message):
        return None
    found = _MESSAGE_ID.search(str(returned.get("Message-ID", "")))
    return found.group(1) if found else None


def _recipient_blocks(part: Message) -> list[Message]:
    blocks = part.get_payload()
    if not isinstance(blocks, list):
        return []
    return [b for b in blocks[1:] if isinstance(b, Message)]  # blocks[0]: per-message fields


def _pick(blocks: list[Message]) -> Message | None:
    with_status = [b for b in blocks if b.get("Status")]
    failed = [b for b in with_status if str(b.get("Action", "")).strip().lower() == "failed"]
    chosen = failed or with_status
    return chosen[0] if chosen else None


def parse_dsn(raw: bytes) -> Dsn:
    """The message ids, status and action of a bounce email (RFC 3464)."""
    if not raw.strip():
        raise DsnError("empty body: expected the whole bounce email")
    mail = message_from_bytes(raw, policy=policy.compat32)
    ids = _verp_ids(mail, _RECIPIENT_HEADERS)
    blocks: list[Message] = []
    returned: list[str] = []
    for part in mail.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            blocks.extend(_recipient_blocks(part))
        elif kind in _RETURNED:
            found = _returned_message_id(part)
            if found:
                returned.append(found)
    if not blocks:
        raise DsnError("no message/delivery-status part with a per-recipient block")
    block = _pick(blocks)
    if block is None:
        raise DsnError("no Status field in the message/delivery-status part")
    status = status_in(str(block["Status"]))
    if status is None:
        raise DsnError(f"Status is not an enhanced status code: {str(block['Status'])[:20]!r}")
    ids += _verp_ids(block, _DSN_RECIPIENT_FIELDS)
    ids += returned
    if not ids:
        raise DsnError(
            "no message id: expected a bounce+<message_id>@ recipient "
            "or the returned headers with our Message-ID"
        )
    action = str(block.get("Action", "")).strip().lower() or "failed"
    return Dsn(tuple(dict.fromkeys(ids)), status, action)
