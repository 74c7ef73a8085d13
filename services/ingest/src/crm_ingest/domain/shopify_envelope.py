"""A Shopify delivery and the envelope fields every event built from it shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from crm_common.events import EnvelopeBase, Identity, format_validation_error
from crm_ingest.domain.context import TenantContext
from crm_ingest.domain.errors import NormalizationError
from crm_ingest.domain.facts import with_fact_id
from crm_ingest.domain.fields import Node

SOURCE = "shopify"

E = TypeVar("E", bound=EnvelopeBase)


@dataclass(frozen=True, slots=True, kw_only=True)
class RawWebhook:
    """One webhook as received: the ``X-Shopify-*`` headers and the parsed JSON body."""

    shop_domain: str
    topic: str
    webhook_id: str
    received_at: datetime
    body: dict[str, Any]
    event_id: str | None = None
    triggered_at: datetime | None = None
    api_version: str | None = None


@dataclass(frozen=True, slots=True)
class Emitter:
    """Builds the events of one webhook: ids, clock fallbacks and validation."""

    raw: RawWebhook
    tenant: TenantContext

    @property
    def body(self) -> Node:
        """The webhook body as a path-aware node."""
        return Node(self.raw.body)

    @property
    def happening(self) -> str:
        """Shopify's id of the event behind this delivery (``X-Shopify-Event-Id``, the
        same for every subscription it is delivered to), else the webhook id."""
        return self.raw.event_id or self.raw.webhook_id

    def occurred_at(self, node: Node | None = None) -> datetime:
        """The object's ``updated_at``, else ``created_at``, else the delivery's clock."""
        if node is not None:
            moment = node.timestamp("updated_at") or node.timestamp("created_at")
            if moment is not None:
                return moment
        return self.raw.triggered_at or self.raw.received_at

    def emit(
        self,
        cls: type[E],
        *,
        occurred_at: datetime,
        data: Any,
        identity: Identity | None = None,
    ) -> E:
        """One event of class ``cls``, with the id of the fact it tells (:mod:`.facts`):
        the same fact delivered by two webhooks is one event."""
        event_type: str = cls.model_fields["type"].default
        payload = {
            "event_id": "-",
            "tenant_id": self.tenant.tenant_id,
            "source": SOURCE,
            "occurred_at": occurred_at,
            "received_at": self.raw.received_at,
            "identity": identity or Identity(),
            "data": data,
        }
        try:
            event = cls.model_validate(payload)
        except ValidationError as exc:  # a mapping bug or an envelope problem; keep it readable
            raise NormalizationError(f"{event_type}: {format_validation_error(exc)}") from exc
        # The time the body states; the delivery's own clock is not part of the fact.
        stated_at = None if occurred_at == self.raw.received_at else occurred_at
        return with_fact_id(event, stated_at=stated_at, happening=self.happening)
