"""Message templates: sandboxed Jinja2 per channel, forgiving about missing data.

At send time a missing variable never stops a message: it renders as empty
and is reported in ``Rendered.missing`` (dotted path, ``[]`` for list items),
so the caller can decide (e.g. skip when ``coupon_code`` is missing). Only
``{{ x }}``-style output, iteration and arithmetic count as use; ``{% if x %}``
and ``x | default(...)`` are deliberate handling and are not reported.
Syntax errors are found at save/preview time by :func:`validate_template`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from crm_common.events import Frozen
from crm_common.events.customers import Channel
from crm_messaging.domain.errors import TemplateRenderError
from crm_messaging.domain.linkscan import HTML_PARTS, extract_links
from crm_messaging.domain.sms import SmsSegments, sms_segments

__all__ = [
    "PART_RULES",
    "MessageTemplate",
    "Rendered",
    "SmsSegments",
    "TemplateProblem",
    "links",
    "render",
    "sms_segments",
    "template_context",
    "validate_template",
]

_MISSING: ContextVar[list[str] | None] = ContextVar("crm_template_missing", default=None)

# channel -> (parts that must be present, parts allowed or None for any field name)
PART_RULES: dict[Channel, tuple[frozenset[str], frozenset[str] | None]] = {
    Channel.EMAIL: (frozenset({"subject"}), frozenset({"subject", "preheader", "text", "html"})),
    Channel.SMS: (frozenset({"text"}), frozenset({"text"})),
    Channel.LINE: (frozenset({"text"}), frozenset({"text"})),
    Channel.POSTAL_DM: (frozenset(), None),
    Channel.CALL: (frozenset({"script"}), None),
}


class MessageTemplate(Frozen):
    template_id: str
    channel: Channel
    parts: dict[str, str]


@dataclass(frozen=True)
class Rendered:
    parts: dict[str, str]
    missing: list[str]


@dataclass(frozen=True)
class TemplateProblem:
    part: str
    message: str
    line: int | None = None


class _PathDict(dict[str, Any]):
    """A context mapping that knows its dotted path, for naming missing keys."""

    __slots__ = ("_path",)

    def __init__(self, items: Mapping[str, Any], path: str) -> None:
        super().__init__(items)
        self._path = path


class _RecordingUndefined(ChainableUndefined):
    __slots__ = ()

    def _record(self) -> None:
        if self._undefined_exception is SecurityError:
            # The sandbox refused an attribute: an attack, not missing data.
            raise SecurityError(str(self._undefined_hint))
        sink = _MISSING.get()
        if sink is not None:
            sink.append(self._path_name())

    def _path_name(self) -> str:
        name = str(self._undefined_name)
        owner = self._undefined_obj
        return f"{owner._path}.{name}" if isinstance(owner, _PathDict) else name

    def __str__(self) -> str:
        self._record()
        return ""

    def __iter__(self) -> Iterator[Any]:
        self._record()
        return iter(())

    def _absorb(self, *args: Any, **kwargs: Any) -> _RecordingUndefined:
        self._record()
        return self

    def _zero(self) -> int:
        self._record()
        return 0


# Arithmetic and comparison on a missing value yield the missing value again
# (rendered empty and reported) instead of raising in the middle of a send.
_ABSORBING = (
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
    "__truediv__",
    "__rtruediv__",
    "__floordiv__",
    "__rfloordiv__",
    "__mod__",
    "__rmod__",
    "__pow__",
    "__rpow__",
    "__pos__",
    "__neg__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__call__",
)
for _name in _ABSORBING:
    setattr(_RecordingUndefined, _name, _RecordingUndefined._absorb)
for _name in ("__int__", "__float__", "__complex__"):
    setattr(_RecordingUndefined, _name, _RecordingUndefined._zero)


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        autoescape=autoescape, undefined=_RecordingUndefined, keep_trailing_newline=True
    )


_ENVIRONMENTS = {True: _environment(True), False: _environment(False)}


@lru_cache(maxsize=512)
def _compile(source: str, autoescape: bool) -> Template:
    return _ENVIRONMENTS[autoescape].from_string(source)


def _wrap(value: Any, path: str) -> Any:
    if isinstance(value, Mapping):
        return _PathDict({str(k): _wrap(v, f"{path}.{k}") for k, v in value.items()}, path)
    if isinstance(value, list | tuple):
        return [_wrap(item, f"{path}[]") for item in value]
    return value


def _render_part(name: str, source: str, context: Mapping[str, Any]) -> str:
    try:
        return _compile(source, name in HTML_PARTS).render(context)
    except TemplateError as exc:
        raise TemplateRenderError(name, str(exc)) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateRenderError(name, f"{type(exc).__name__}: {exc}") from exc


def render(template: MessageTemplate, context: Mapping[str, Any]) -> Rendered:
    """Render every part; missing variables come back as a list, not an error.

    Raises TemplateRenderError for anything else (syntax error in an unvalidated
    template, sandbox violation, a filter given the wrong type).
    """
    wrapped = {str(k): _wrap(v, str(k)) for k, v in context.items()}
    missing: list[str] = []
    token = _MISSING.set(missing)
    try:
        parts = {name: _render_part(name, src, wrapped) for name, src in template.parts.items()}
    finally:
        _MISSING.reset(token)
    return Rendered(parts=parts, missing=list(dict.fromkeys(missing)))


def links(rendered: Rendered) -> list[str]:
    """Distinct http(s) links of the rendered message: html hrefs, then URLs in text parts."""
    return extract_links(rendered.parts)


def validate_template(template: MessageTemplate) -> list[TemplateProblem]:
    """Problems to show when a template is saved or previewed; empty when it can be used."""
    problems = _part_problems(template)
    for name, source in template.parts.items():
        try:
            _ENVIRONMENTS[name in HTML_PARTS].parse(source)
        except TemplateSyntaxError as exc:
            problems.append(TemplateProblem(name, exc.message or "syntax error", exc.lineno))
    return problems


def _part_problems(template: MessageTemplate) -> list[TemplateProblem]:
    required, allowed = PART_RULES[template.channel]
    names = set(template.parts)
    problems = [TemplateProblem(p, "required part is missing") for p in sorted(required - names)]
    if allowed is not None:
        problems += [TemplateProblem(p, "unknown part") for p in sorted(names - allowed)]
    if template.channel == Channel.EMAIL and not names & {"text", "html"}:
        problems.append(TemplateProblem("text", "email needs a text or an html part"))
    if not names:
        problems.append(TemplateProblem("", "template has no parts"))
    return problems


def template_context(
    *,
    profile: Mapping[str, Any],
    traits: Mapping[str, Any],
    coupon_code: str | None = None,
    recommendations: Sequence[Mapping[str, Any]] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The variables templates see: ``profile``, ``traits``, ``recommendations``,
    ``coupon_code`` (absent, hence reported when used, if None) and ``extra`` keys."""
    context: dict[str, Any] = {
        "profile": dict(profile),
        "traits": dict(traits),
        "recommendations": [dict(item) for item in recommendations],
    }
    if coupon_code is not None:
        context["coupon_code"] = coupon_code
    context.update(extra or {})
    return context
