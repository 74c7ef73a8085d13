"""Japanese and English: .po catalogs compiled in memory at start (no build step),
one Jinja2 environment per language so concurrent requests never share a locale."""

from __future__ import annotations

import io
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).parent
LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "en"


def default_language(timezone: str | None) -> str:
    """Japanese for shops in Japan, English elsewhere."""
    return "ja" if timezone == "Asia/Tokyo" else "en"


def load_translations(lang: str, folder: Path = HERE / "locale") -> NullTranslations:
    path = folder / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def number(value: Any, lang: str = "en", digits: int = 0) -> str:
    """1234567.8 -> 1,234,568 (or with ``digits`` decimals); non-numbers unchanged."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "" if value is None else str(value)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(amount, format=pattern, locale="ja_JP" if lang == "ja" else "en_US")


def percent(value: Any, lang: str = "en") -> str:
    try:
        return number(Decimal(str(value)) * 100, lang, 1) + "%"
    except (InvalidOperation, ValueError):
        return "" if value is None else str(value)


def build_environment(lang: str, templates: Path = HERE / "templates") -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates),
        autoescape=select_autoescape(["html", "svg"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(load_translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = lang
    env.filters["num"] = lambda v, digits=0: number(v, lang, digits)
    env.filters["pct"] = lambda v: percent(v, lang)
    env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False, default=str)
    return env


def environments() -> dict[str, Environment]:
    return {lang: build_environment(lang) for lang in LANGUAGES}
