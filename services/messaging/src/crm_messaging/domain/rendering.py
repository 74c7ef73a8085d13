"""Message templates: sandboxed Jinja2 per channel, forgiving about missing data.

At send time a missing variable never stops a message: it renders as empty
and is reported in ``Rendered.missing`` (dotted path, ``[]`` for list items),
so the caller can decide (e.g. skip when ``coupon_code`` is missing). Only
``{{ x }}``-style output, iteration and arithmetic count as use; ``{% if x %}``
and ``x | default(...)`` are deliberate handling and are not reported.
Syntax errors and oversized sources are found at save/preview time by
:func:`validate_template`.

Budgets: :func:`render` stops a message whose output passes ``max_bytes``
(counted while generating) with TemplateOverBudget naming the part. Time and
memory are the render pool's (a worker process killed at its deadline):
nothing here may run on the service's event loop.

``Rendered.links`` are the links the template itself wrote (see
:mod:`.sandbox` and :func:`.linkscan.authored_links`): only those are ever
turned into click-tracking redirects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError

from crm_common.events import Frozen
from crm_common.events.customers import Channel
from crm_messaging.domain import sandbox
from crm_messaging.domain.errors import TemplateOverBudget, TemplateRenderError
from crm_messaging.domain.linkscan import HTML_PARTS, authored_links
from crm_messaging.domain.sandbox import TrustedLink
from crm_messaging.domain.sms import SmsSegments, sms_segments

__all__ = [
    "PART_RULES",
    "MessageTemplate",
    "Rendered",
    "SmsSegments",
    "TemplateProblem",
    "TrustedLink",
    "links",
    "render",
    "sms_segments",
    "template_context",
    "validate_template",
]

DEFAULT_MAX_SOURCE_BYTES = 256 * 1024

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
    links: list[str] = field(default_factory=list)  # written by the template, see links()


@dataclass(frozen=True)
class TemplateProblem:
    part: str
    message: str
    line: int | None = None


# Variables whose value is a link the system itself vouches for (the cart
# platform's recovery URL from a signed webhook or the shop's own API), so click
# tracking may wrap it although it arrives in a variable.
TRUSTED_LINK_VARIABLES = frozenset({"recovery_url"})


def _wrap(value: Any, path: str) -> Any:
    if isinstance(value, Mapping):
        return sandbox.PathDict({str(k): _wrap(v, f"{path}.{k}") for k, v in value.items()}, path)
    if isinstance(value, list | tuple):
        return [_wrap(item, f"{path}[]") for item in value]
    return value


def _render_part(
    name: str, source: str, context: Mapping[str, Any], budget: int | None
) -> tuple[str, int]:
    try:
        return sandbox.generate(sandbox.compiled(source, name in HTML_PARTS), context, budget)
    except sandbox.BudgetExceeded as exc:
        limit = sandbox.OUTPUT_LIMIT.get()
        message = f"{exc.message} ({limit} bytes)" if exc.budget == "output" else exc.message
        raise TemplateOverBudget(name, exc.budget, message) from None
    except MemoryError:
        raise TemplateOverBudget(name, "memory", "the render ran out of memory") from None
    except RecursionError:
        raise TemplateRenderError(name, "recursion too deep") from None
    except TemplateError as exc:
        raise TemplateRenderError(name, str(exc)) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateRenderError(name, f"{type(exc).__name__}: {exc}") from exc


def render(
    template: MessageTemplate,
    context: Mapping[str, Any],
    max_bytes: int | None = None,
    on_part: Callable[[str], None] | None = None,
) -> Rendered:
    """Render every part; missing variables come back as a list, not an error.

    ``max_bytes``: the output budget of the whole message (UTF-8, all parts);
    ``on_part`` is told each part's name before it renders (the pool's progress).
    Raises TemplateOverBudget past the budget, TemplateRenderError for anything
    else (syntax error in an unvalidated template, sandbox violation, a filter
    given the wrong type).
    """
    wrapped = {str(k): _wrap(v, str(k)) for k, v in context.items()}
    missing: list[str] = []
    marked: dict[str, str] = {}
    token = sandbox.MISSING.set(missing)
    limit = sandbox.OUTPUT_LIMIT.set(max_bytes)
    try:
        left = max_bytes
        for name, source in template.parts.items():
            if on_part is not None:
                on_part(name)
            marked[name], size = _render_part(name, source, wrapped, left)
            left = None if left is None else left - size
    finally:
        sandbox.OUTPUT_LIMIT.reset(limit)
        sandbox.MISSING.reset(token)
    parts = {name: sandbox.unmark(text) for name, text in marked.items()}
    return Rendered(parts, list(dict.fromkeys(missing)), authored_links(marked))


def links(rendered: Rendered) -> list[str]:
    """Distinct http(s) links the template wrote: html hrefs, then URLs in text parts.

    A link whose scheme and host came from a variable (a first name that is a
    URL, a product field) is not one: it stays plain text and is never tracked.
    """
    return list(rendered.links)


def validate_template(
    template: MessageTemplate, max_source_bytes: int = DEFAULT_MAX_SOURCE_BYTES
) -> list[TemplateProblem]:
    """Problems to show when a template is saved or previewed; empty when it can be used."""
    problems = _part_problems(template) + _size_problems(template, max_source_bytes)
    for name, source in template.parts.items():
        try:
            sandbox.ENVIRONMENTS[name in HTML_PARTS].parse(source)
        except TemplateSyntaxError as exc:
            problems.append(TemplateProblem(name, exc.message or "syntax error", exc.lineno))
    return problems


def _size_problems(template: MessageTemplate, limit: int) -> list[TemplateProblem]:
    sizes = {name: sandbox.utf8_size(source) for name, source in template.parts.items()}
    if sum(sizes.values()) <= limit:
        return []
    largest = max(sizes, key=lambda name: sizes[name])
    total = sum(sizes.values())
    return [TemplateProblem(largest, f"template source is {total} bytes, over {limit}")]


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
    ``coupon_code`` (absent, hence reported when used, if None) and ``extra`` keys.
    ``extra`` values named in TRUSTED_LINK_VARIABLES may be click-tracked."""
    context: dict[str, Any] = {
        "profile": dict(profile),
        "traits": dict(traits),
        "recommendations": [dict(item) for item in recommendations],
    }
    if coupon_code is not None:
        context["coupon_code"] = coupon_code
    context.update(extra or {})
    for name in TRUSTED_LINK_VARIABLES & context.keys():
        if isinstance(context[name], str):
            context[name] = TrustedLink(context[name])
    return context
