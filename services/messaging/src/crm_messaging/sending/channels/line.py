"""LINE Messaging API push with ``X-Line-Retry-Key``.

The retry key is a UUID derived from our message id, the same on every
attempt; LINE answers a repeated key with 409 and ``X-Line-Accepted-Request-Id``
instead of pushing twice, which we count as success.
"""

from __future__ import annotations

import uuid

import httpx

from crm_common.events.customers import Channel
from crm_messaging.config import MessagingService
from crm_messaging.domain.backoff import OutcomeClass
from crm_messaging.domain.ids import idempotency_key
from crm_messaging.domain.provider_urls import provider_url_problem
from crm_messaging.sending.channels.base import Outgoing, SendContext, SendResult
from crm_messaging.sending.channels.http import call

_RETRY_KEY_NAMESPACE = uuid.UUID("0c1f4a52-7a53-4e0a-9a4c-3f1f6d2b8e71")


def retry_key(message_id: str) -> str:
    return str(uuid.uuid5(_RETRY_KEY_NAMESPACE, idempotency_key(message_id, "line")))


class LineAdapter:
    channel = Channel.LINE
    provider = "line"
    in_transaction = False

    def __init__(self, client: httpx.AsyncClient, settings: MessagingService) -> None:
        self.client = client
        self.settings = settings

    async def send(self, out: Outgoing, ctx: SendContext) -> SendResult:
        account = out.config.settings.line
        if account is None:
            return SendResult(OutcomeClass.PERMANENT, error="line_not_configured")
        if account.base_url and provider_url_problem(
            account.base_url, self.settings.provider_hosts
        ):
            return SendResult(OutcomeClass.PERMANENT, error="provider_url_not_allowed")
        base = (account.base_url or self.settings.line_api_url).rstrip("/")
        response, failure = await call(
            self.client,
            self.provider,
            "POST",
            f"{base}/v2/bot/message/push",
            headers={
                "Authorization": f"Bearer {account.channel_access_token}",
                "X-Line-Retry-Key": retry_key(out.message_id),
            },
            json={
                "to": out.recipient.line_user_id,
                "messages": [{"type": "text", "text": out.parts.get("text", "")}],
            },
        )
        if response is not None and failure is not None and _already_accepted(response):
            return SendResult.ok(response.headers.get("x-line-accepted-request-id"))
        if failure is not None:
            return failure
        assert response is not None
        return SendResult.ok(response.headers.get("x-line-request-id"))


def _already_accepted(response: httpx.Response) -> bool:
    return response.status_code == 409 and "x-line-accepted-request-id" in response.headers
