"""Building tracking URLs and rewriting a rendered message's links to them."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from crm_messaging.domain.linkscan import URL_IN_TEXT, trim_url
from crm_messaging.domain.tracking import TokenKind, TrackingClaims, sign_token, url_fingerprint

_HREF = re.compile(r"""(<(?:a|area)\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.I | re.S)
_BODY_END = re.compile(r"</body\s*>", re.I)


@dataclass(frozen=True)
class TrackingContext:
    """Everything needed to sign the tracking URLs of one message.

    Paths under ``base_url``: ``/o/<token>`` open pixel, ``/c/<token>`` click,
    ``/u/<token>`` unsubscribe.
    """

    base_url: str
    tenant_id: str
    message_id: str
    key: bytes
    expires_at: datetime

    def _url(self, path: str, claims: TrackingClaims) -> str:
        return f"{self.base_url.rstrip('/')}/{path}/{sign_token(claims, self.key)}"

    def _claims(
        self, kind: TokenKind, index: int | None = None, url: str | None = None
    ) -> TrackingClaims:
        fingerprint = url_fingerprint(url) if url is not None else None
        return TrackingClaims(
            kind,
            self.tenant_id,
            self.message_id,
            self.expires_at,
            index,
            fingerprint,
        )

    def open_url(self) -> str:
        return self._url("o", self._claims("open"))

    def click_url(self, index: int, url: str) -> str:
        return self._url("c", self._claims("click", index, url))

    def unsubscribe_url(self) -> str:
        return self._url("u", self._claims("unsubscribe"))


@lru_cache(maxsize=64)  # a link written in both the html and the text part is signed once
def _click_url(ctx: TrackingContext, index: int, url: str) -> str:
    return ctx.click_url(index, url)


def _tracked(url: str, message_links: Sequence[str], ctx: TrackingContext) -> str | None:
    if url.startswith(ctx.base_url.rstrip("/") + "/") or url not in message_links:
        return None
    return _click_url(ctx, message_links.index(url), url)


def rewrite_html(html_text: str, message_links: Sequence[str], ctx: TrackingContext) -> str:
    """Point every ``<a href>`` that is in ``message_links`` at its click URL.

    Links not in the list (mailto:, already-tracking URLs) are left alone, so the
    index in each token is the link's position in ``message_links``.
    """

    def replace(match: re.Match[str]) -> str:
        tracked = _tracked(html.unescape(match.group(3)).strip(), message_links, ctx)
        if tracked is None:
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{html.escape(tracked, quote=True)}{quote}"

    return _HREF.sub(replace, html_text)


def rewrite_text(text: str, message_links: Sequence[str], ctx: TrackingContext) -> str:
    """Replace the URLs written in a text part (SMS, LINE, plain email) by click URLs."""

    def replace(match: re.Match[str]) -> str:
        raw = match.group(0)
        url = trim_url(raw)
        tracked = _tracked(url, message_links, ctx)
        return raw if tracked is None else tracked + raw[len(url) :]

    return URL_IN_TEXT.sub(replace, text)


def add_open_pixel(html_text: str, ctx: TrackingContext) -> str:
    """Append a 1x1 open-tracking image just before ``</body>`` (or at the end)."""
    pixel = (
        f'<img src="{html.escape(ctx.open_url(), quote=True)}" width="1" height="1" '
        'alt="" style="display:none">'
    )
    ends = list(_BODY_END.finditer(html_text))
    if not ends:
        return html_text + pixel
    cut = ends[-1].start()
    return html_text[:cut] + pixel + html_text[cut:]
