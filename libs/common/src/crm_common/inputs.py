"""What a request may carry into PostgreSQL, refused at the door with a 422 naming it.

Fuzzing every service's OpenAPI found these kinds of input that passed validation and
then failed deep inside a handler with a 500:

- **text PostgreSQL cannot hold**: a NUL character (``text`` and ``jsonb`` refuse
  it) or an unpaired UTF-16 surrogate (``"\\ud800"`` in JSON decodes to a Python
  string that is not UTF-8), and in free-form JSON (``properties``, definitions) an
  integer wider than 64 bits, which orjson cannot write. :class:`StorableInput` is a
  pure ASGI wrapper that looks at the path, every query parameter and every JSON or
  form body value (keys too) and answers ``422 invalid_request`` naming the first
  one, e.g. ``query.f_stage`` or ``body.definition.all.0.value``;
- **integers wider than the column**: :data:`Int64` / :data:`Int32` are ``int``
  with the range of ``bigint`` / ``integer`` (and of orjson, for ``jsonb``);
- **days and instants at the ends of the calendar**: ``0001-01-01`` in Tokyo is
  still year 0 in UTC, which neither Python nor asyncpg can represent.
  :data:`Day` and :data:`Instant` keep a year of margin from both ends, enough
  for any timezone and for the handlers' own day and month arithmetic;
- **decimals past numeric's range**: :data:`Amount` (``1e999999`` overflows it).

The wrapper sits inside :class:`~crm_common.bodylimits.BodyLimits` (bodies are
already bounded and never read for an anonymous caller), buffers only JSON and
form bodies up to ``max_bytes`` (a larger one passes unchecked: its route refuses
it for its size) and leaves ``exempt`` paths alone: a Shopify webhook is stored as
its raw bytes and must never be refused for its content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

import anyio
import orjson
from pydantic import AfterValidator, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_common.errors import error_body

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""An ``int`` a ``bigint`` column (and orjson) can take."""

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
"""An ``int`` an ``integer`` column can take."""

FIRST_DAY = date(2, 1, 1)
LAST_DAY = date(9998, 12, 31)
AMOUNT_LIMIT = Decimal(10**15)
_D = TypeVar("_D", bound=date)


def off_calendar(value: date) -> str | None:
    """Why a day (or an instant's day) is too close to the ends of the calendar, or None."""
    day = value.date() if isinstance(value, datetime) else value
    if FIRST_DAY <= day <= LAST_DAY:
        return None
    return f"must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}"


def _on_calendar(value: _D) -> _D:
    problem = off_calendar(value)
    if problem:
        raise ValueError(problem)
    return value


Day = Annotated[date, AfterValidator(_on_calendar)]
"""A calendar day that stays representable after a timezone shift (years 2 to 9998)."""

Instant = Annotated[datetime, AfterValidator(_on_calendar)]
"""A timestamp that stays representable in UTC and in any timezone (years 2 to 9998)."""

Amount = Annotated[
    Decimal, Field(ge=-AMOUNT_LIMIT, le=AMOUNT_LIMIT, decimal_places=6, allow_inf_nan=False)
]
"""A decimal a ``numeric`` column compares with: at most 10^15 either way, 6 places
(``1e999999`` overflows PostgreSQL's numeric)."""


def unstorable(text: str) -> str | None:
    """Why PostgreSQL would refuse ``text``, or None when it can store it."""
    if "\x00" in text:
        return "NUL characters are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "unpaired surrogates are not allowed (not UTF-8)"
    return None


def _problem(value: Any) -> str | None:
    if isinstance(value, str):
        return unstorable(value)
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return "integers must fit in 64 bits"
    return None


def find_unstorable(value: Any, path: str) -> tuple[str, str] | None:
    """The path and reason of the first string in ``value`` (JSON data, keys included)
    that PostgreSQL could not store, or of an integer outside 64 bits, or None.

    Iterative (depth-first, in document order): nesting costs no stack."""
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        problem = _problem(item)
        if problem:
            return where, problem
        children: list[tuple[Any, str]] = []
        if isinstance(item, dict):
            for key, child in item.items():  # a key is named by its object's path
                children += [(key, where), (child, f"{where}.{key}")]
        elif isinstance(item, list):
            children = [(child, f"{where}.{index}") for index, child in enumerate(item)]
        pending.extend(reversed(children))
    return None


def _in_query(query_string: bytes, where: str = "query") -> tuple[str, str] | None:
    # Decoded as Starlette decodes it (latin-1 bytes, percent escapes as UTF-8).
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        found = find_unstorable(key, where) or find_unstorable(value, f"{where}.{key}")
        if found:
            return found
    return None


_PARSE_ON_THE_LOOP = 64 * 1024

# A JSON body can only carry a NUL or a surrogate as an escape, and a wide integer has
# 19 digits or more: only a body with one of those is parsed here.
_SUSPECT_JSON = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|[0-9]{19}")


def _in_body(kind: str, body: bytes) -> tuple[str, str] | None:
    if kind == "form":
        return _in_query(body, "body")
    if not _SUSPECT_JSON.search(body):
        return None
    try:
        # The standard library's parser, as FastAPI's: it lets "\ud800" through.
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None  # the route answers a body that is not JSON (or nested too deep)
    return find_unstorable(data, "body")


def _body_kind(scope: Scope) -> str | None:
    headers = dict(scope.get("headers") or [])
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type == b"application/x-www-form-urlencoded":
        return "form"
    if content_type == b"application/json" or content_type.endswith(b"+json"):
        return "json"
    return None


class StorableInput:
    """Answers 422 naming the first path, query or body string PostgreSQL could not
    store (see the module docstring); passes everything else through unchanged."""

    def __init__(
        self, app: ASGIApp, max_bytes: int | None = None, exempt: Sequence[str] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes or 8 * 1024 * 1024
        self.exempt = tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or (self.exempt and path.startswith(self.exempt)):
            await self.app(scope, receive, send)
            return
        found = find_unstorable(path, "path") or _in_query(scope.get("query_string", b""))
        kind = _body_kind(scope)
        if found is None and kind is not None:
            found, receive = await self._check_body(kind, receive)
        if found is not None:
            await _refuse(send, *found)
            return
        await self.app(scope, receive, send)

    async def _check_body(
        self, kind: str, receive: Receive
    ) -> tuple[tuple[str, str] | None, Receive]:
        """Reads the body (up to ``max_bytes``) and gives a ``receive`` that replays it."""
        chunks: list[Message] = []
        size, more = 0, True
        while more and size <= self.max_bytes:
            message = await receive()
            chunks.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        found = None
        if not more and chunks and chunks[-1]["type"] == "http.request":
            body = b"".join(m.get("body", b"") for m in chunks)
            if len(body) > _PARSE_ON_THE_LOOP:  # a big JSON body is parsed in a thread
                found = await anyio.to_thread.run_sync(_in_body, kind, body)
            else:
                found = _in_body(kind, body)
        return found, _replay(chunks, receive)


def _replay(chunks: list[Message], receive: Receive) -> Receive:
    pending = list(chunks)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _refuse(send: Send, path: str, reason: str) -> None:
    details = [{"path": path, "message": reason}]
    payload = orjson.dumps(error_body("invalid_request", f"{path}: {reason}", details))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
