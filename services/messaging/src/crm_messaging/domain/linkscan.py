"""Finding the http(s) links of a rendered message, in a stable order.

The order is the link index that click-tracking tokens carry, so it must be the
same every time the same rendered message is scanned.

:func:`authored_links` reads the *marked* output of a render (every ``{{ }}``
value between MARK_OPEN and MARK_CLOSE, see :mod:`.sandbox`) and keeps only the
links the template wrote: the scheme and host are literal template text and the
link does not sit inside a substituted value. A path or query may come from data
(``https://shop.example.jp/p/{{ handle }}``): the destination site is still the
one the template chose.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser

from crm_messaging.domain.sandbox import MARK_CLOSE, MARK_OPEN, unmark

HTML_PARTS = frozenset({"html"})

URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'`　「」『』（）【】、。]+", re.IGNORECASE)
_TRAILING = ".,;:!?"


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("a", "area"):
            return
        for name, value in attrs:
            if name == "href" and value:
                self.hrefs.append(value.strip())


def trim_url(url: str) -> str:
    """Drop sentence punctuation glued to a URL in prose ("see https://x.jp/a.")."""
    while url and (url[-1] in _TRAILING or (url[-1] == ")" and url.count(")") > url.count("("))):
        url = url[:-1]
    return url


def is_web_url(url: str) -> bool:
    lowered = url.lower()
    return lowered.startswith(("http://", "https://")) and len(url) > len("https://")


def html_links(html: str) -> list[str]:
    """The href of every ``<a>``/``<area>`` in ``html``, entities decoded, web URLs only."""
    parser = _AnchorParser()
    parser.feed(html)
    parser.close()
    return [href for href in parser.hrefs if is_web_url(href)]


def text_links(text: str) -> list[str]:
    """Web URLs written out in plain text."""
    found = (trim_url(match.group(0)) for match in URL_IN_TEXT.finditer(text))
    return [url for url in found if is_web_url(url)]


def part_order(parts: Mapping[str, str]) -> list[str]:
    """html first, then text, then the other parts by name."""
    rank = {"html": 0, "text": 1}
    return sorted(parts, key=lambda name: (rank.get(name, 2), name))


def _all_links(parts: Mapping[str, str]) -> Iterator[str]:
    for name in part_order(parts):
        scan = html_links if name in HTML_PARTS else text_links
        yield from scan(parts[name])


def extract_links(parts: Mapping[str, str]) -> list[str]:
    """Distinct web links of all parts, first occurrence order (see :func:`part_order`)."""
    return list(dict.fromkeys(_all_links(parts)))


_MARKS = re.compile(f"[{MARK_OPEN}{MARK_CLOSE}]")
_SCHEME = re.compile(r"https?://", re.IGNORECASE)
_AUTHORITY_END = re.compile(r"[/?#\\]")


class _Depth:
    """How many substituted values enclose a position of a marked text."""

    def __init__(self, text: str) -> None:
        self.opens: list[int] = []
        self.closes: list[int] = []
        for match in _MARKS.finditer(text):
            (self.opens if match.group() == MARK_OPEN else self.closes).append(match.start())

    def at(self, position: int) -> int:
        return bisect_left(self.opens, position) - bisect_left(self.closes, position)


def _literal_origin(raw: str) -> bool:
    """``raw`` starts with a scheme and host written in the template (no marks in them)."""
    scheme = _SCHEME.match(raw)
    if scheme is None:
        return False
    rest = raw[scheme.end() :]
    end = _AUTHORITY_END.search(rest)
    authority = rest if end is None else rest[: end.start()]
    return _MARKS.search(authority) is None and bool(authority)


class _PlacedAnchorParser(HTMLParser):
    """``<a>``/``<area>`` hrefs with the offset of their tag in the fed text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.hrefs: list[tuple[int, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("a", "area"):
            return
        line, column = self.getpos()
        for name, value in attrs:
            if name == "href" and value:
                self.hrefs.append((self.line_starts[line - 1] + column, value.strip()))


def _authored_html(marked: str) -> Iterator[str]:
    parser = _PlacedAnchorParser(marked)
    parser.feed(marked)
    parser.close()
    depth = _Depth(marked)
    for position, href in parser.hrefs:
        if depth.at(position) == 0 and _literal_origin(href):
            url = unmark(href).strip()
            if is_web_url(url):
                yield url


def _authored_text(marked: str) -> Iterator[str]:
    depth = _Depth(marked)
    for match in URL_IN_TEXT.finditer(marked):
        if depth.at(match.start()) == 0 and _literal_origin(match.group(0)):
            url = trim_url(unmark(match.group(0)))
            if is_web_url(url):
                yield url


def authored_links(marked_parts: Mapping[str, str]) -> list[str]:
    """Distinct web links the template wrote, in :func:`part_order` (marked render output)."""

    def scan() -> Iterator[str]:
        for name in part_order(marked_parts):
            find = _authored_html if name in HTML_PARTS else _authored_text
            yield from find(marked_parts[name])

    return list(dict.fromkeys(scan()))
