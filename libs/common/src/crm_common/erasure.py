"""Erasure requests on ``crm.events.v1``, for consumer groups that act on nothing else.

Every service that holds personal data erases it on ``privacy.redact_requested``
(one person; Shopify ``customers/redact`` or ``DELETE /v1/profiles/{id}``) and
``tenant.redact_requested`` (a whole shop; Shopify ``shop/redact``). A group that
reads the topic only for these decodes the other records no further than their
``type`` (:func:`decode_only`), so it does not pay for validating every order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import orjson

from crm_common.events import EventDecodeError, parse_event
from crm_common.kafka import Ignored

REDACT = "privacy.redact_requested"
TENANT_REDACT = "tenant.redact_requested"
ERASURE_TYPES = frozenset({REDACT, TENANT_REDACT})


@dataclass(frozen=True, slots=True)
class Skipped(Ignored):
    """A record of a type the group does not act on: the runner commits it with its
    batch and neither records its id nor hands it to the handler."""

    event_id: str
    type: str


def decode_only(types: Collection[str] = ERASURE_TYPES) -> Callable[[bytes], Any]:
    """A ``ConsumerRunner`` decoder: events of ``types`` parsed, others :class:`Skipped`.

    Bytes that are not a JSON object raise :class:`~crm_common.events.EventDecodeError`
    (dead-lettered), as with the default decoder.
    """
    wanted = frozenset(types)

    def decode(raw: bytes) -> Any:
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise EventDecodeError(f"not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise EventDecodeError("not a JSON object")
        kind = payload.get("type")
        if kind in wanted:
            return parse_event(payload)
        return Skipped(str(payload.get("event_id") or ""), str(kind))

    return decode
