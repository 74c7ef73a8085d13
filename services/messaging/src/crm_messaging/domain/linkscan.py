"""Finding the http(s) links of a rendered message, in a stable order.

The order is the link index that click-tracking tokens carry, so it must be the
same every time the same rendered message is scanned.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser

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
