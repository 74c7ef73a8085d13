"""The Jinja sandbox templates run in: forgiving about missing data, bounded in
output, and marking what came from data.

* Missing variables render empty and are recorded (see :mod:`.rendering`).
* Every ``{{ ... }}`` output is wrapped in two private-use characters
  (:data:`MARK_OPEN` ... :data:`MARK_CLOSE`) while rendering, so the link scan
  can tell a link the template wrote from one that arrived in a variable (a
  first name that is a URL). :class:`TrustedLink` values (links the system
  itself vouches for, e.g. the cart platform's recovery URL) are not wrapped.
  The marks are removed from the rendered parts before anyone sees them.
* Output is counted while it is generated and stops at the byte budget; ``*``
  and ``**`` are checked before they run, because one repeated string or one
  huge power is a single call that no per-chunk check could interrupt. Time
  and memory are bounded by the process the render runs in (the render pool).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, Template, Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

MARK_OPEN = "\ue000"
MARK_CLOSE = "\ue001"
MAX_EXPONENT = 1000
MAX_POWER_BITS = 1 << 16  # Python prints at most 4,300 digits (about 14,300 bits) anyway

MISSING: ContextVar[list[str] | None] = ContextVar("crm_template_missing", default=None)
OUTPUT_LIMIT: ContextVar[int | None] = ContextVar("crm_template_output_limit", default=None)


class BudgetExceeded(Exception):
    """Raised inside a render; the caller names the part (TemplateOverBudget)."""

    def __init__(self, budget: str, message: str) -> None:
        super().__init__(message)
        self.budget = budget
        self.message = message


class TrustedLink(str):
    """A URL the system vouches for (not personal data): click tracking may wrap it."""

    __slots__ = ()


def unmark(text: str) -> str:
    # Two C-level replaces: str.translate with a table walks the text in Python-
    # visible steps and was the render's single largest cost.
    return text.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")


class PathDict(dict[str, Any]):
    """A context mapping that knows its dotted path, for naming missing keys."""

    __slots__ = ("_path",)

    def __init__(self, items: Mapping[str, Any], path: str) -> None:
        super().__init__(items)
        self._path = path


class RecordingUndefined(ChainableUndefined):
    __slots__ = ()

    def _record(self) -> None:
        if self._undefined_exception is SecurityError:
            # The sandbox refused an attribute: an attack, not missing data.
            raise SecurityError(str(self._undefined_hint))
        sink = MISSING.get()
        if sink is not None:
            sink.append(self._path_name())

    def _path_name(self) -> str:
        name = str(self._undefined_name)
        owner = self._undefined_obj
        return f"{owner._path}.{name}" if isinstance(owner, PathDict) else name

    def __str__(self) -> str:
        self._record()
        return ""

    def __iter__(self) -> Iterator[Any]:
        self._record()
        return iter(())

    def _absorb(self, *args: Any, **kwargs: Any) -> RecordingUndefined:
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
    setattr(RecordingUndefined, _name, RecordingUndefined._absorb)
for _name in ("__int__", "__float__", "__complex__"):
    setattr(RecordingUndefined, _name, RecordingUndefined._zero)


def _mark(value: Any) -> Any:
    """``{{ value }}`` as data: wrapped in marks (any marks inside it removed first)."""
    if isinstance(value, TrustedLink | Undefined):
        return value
    if hasattr(value, "__html__"):
        return Markup(MARK_OPEN + unmark(str(value.__html__())) + MARK_CLOSE)
    return MARK_OPEN + unmark(str(value)) + MARK_CLOSE


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
            return left**right
        _check_repeat(left, right)
        return left * right


def _check_power(left: Any, right: Any) -> None:
    if not isinstance(right, int) or isinstance(right, bool):
        return
    if abs(right) > MAX_EXPONENT:
        raise BudgetExceeded("time", f"an exponent over {MAX_EXPONENT}")
    if isinstance(left, int) and left.bit_length() * abs(right) > MAX_POWER_BITS:
        raise BudgetExceeded("time", f"a power over {MAX_POWER_BITS} bits")


def _check_repeat(left: Any, right: Any) -> None:
    limit = OUTPUT_LIMIT.get()
    for seq, times in ((left, right), (right, left)):
        size = _sized(seq)
        if (
            size is not None
            and isinstance(times, int)
            and limit is not None
            and size * times > limit
        ):
            raise BudgetExceeded("output", "a repeated value is over the budget")


def _environment(autoescape: bool) -> _Sandbox:
    return _Sandbox(
        autoescape=autoescape,
        undefined=RecordingUndefined,
        keep_trailing_newline=True,
        finalize=_mark,
    )


ENVIRONMENTS = {True: _environment(True), False: _environment(False)}


@lru_cache(maxsize=512)
def compiled(source: str, autoescape: bool) -> Template:
    return ENVIRONMENTS[autoescape].from_string(source)


def utf8_size(chunk: str) -> int:
    return len(chunk) if chunk.isascii() else len(chunk.encode("utf-8", "surrogatepass"))


def generate(template: Template, context: Mapping[str, Any], budget: int | None) -> tuple[str, int]:
    """The output (marks included) and its UTF-8 size; stops as soon as the
    output passes ``budget`` bytes (BudgetExceeded), never after."""
    chunks: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += utf8_size(chunk)
        if budget is not None and size > budget:
            raise BudgetExceeded("output", "output is over the budget")
        chunks.append(chunk)
    return "".join(chunks), size
