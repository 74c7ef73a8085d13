"""Japanese and English: .po catalogs compiled in memory at start (no build step),
one Jinja2 environment per language so concurrent requests never share a locale."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

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


def plain(value: Any) -> str:
    """A number as typed in a form: 5.0 -> "5", 0.50 -> "0.5" (no grouping)."""
    try:
        amount = Decimal(str(value)).normalize()
    except (InvalidOperation, ValueError):
        return "" if value is None else str(value)
    return format(amount, "f")


def local_time(value: Any, timezone: str, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """An instant (ISO text or datetime) on the shop's wall clock; "" for nothing."""
    if value in (None, ""):
        return ""
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(ZoneInfo(timezone)).strftime(pattern)


def money(value: Any, currency: str, lang: str) -> str:
    """2710 JPY -> ¥2,710 (the tenant's currency, the page's language)."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "" if value is None else str(value)
    locale = "ja_JP" if lang == "ja" else "en_US"
    # Japanese shops write the half-width ¥ (¥2,710), not CLDR's full-width ￥.
    return format_currency(amount, currency or "JPY", locale=locale).replace("￥", "¥")


def _viewer_setting(context: Context, name: str, default: str) -> str:
    viewer = context.get("viewer")
    return str(getattr(viewer, name, None) or default)


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
    env.filters["plain"] = plain

    @pass_context
    def when(context: Context, value: Any, pattern: str = "%Y-%m-%d %H:%M") -> str:
        return local_time(value, _viewer_setting(context, "timezone", "Asia/Tokyo"), pattern)

    @pass_context
    def in_currency(context: Context, value: Any, currency: str | None = None) -> str:
        return money(value, currency or _viewer_setting(context, "currency", "JPY"), lang)

    env.filters["when"] = when
    env.filters["money"] = in_currency
    env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False, default=str)
    return env


def environments() -> dict[str, Environment]:
    return {lang: build_environment(lang) for lang in LANGUAGES}
