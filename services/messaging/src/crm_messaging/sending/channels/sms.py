"""SMS through a Twilio-style Messages API.

``POST {base}/2010-04-01/Accounts/{sid}/Messages.json`` (form: To, From, Body,
StatusCallback), basic auth, and the provider's idempotency header derived from
our message id: a resend after a crash or a timeout is answered with the
original message instead of a second SMS.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

import httpx

from crm_common.events.customers import Channel
from crm_messaging.config import MessagingService
from crm_messaging.domain.backoff import OutcomeClass
from crm_messaging.domain.ids import idempotency_key
from crm_messaging.domain.provider_urls import provider_url_problem
from crm_messaging.sending.channels.base import Outgoing, SendContext, SendResult
from crm_messaging.sending.channels.http import call

IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"


def status_signature(key: bytes, message_id: str) -> str:
    """Signature of the status-callback URL of one message (the tenant's tracking key)."""
    return hmac.new(key, f"sms-status\x1f{message_id}".encode(), hashlib.sha256).hexdigest()[:32]


class SmsAdapter:
    channel = Channel.SMS
    provider = "sms"
    in_transaction = False

    def __init__(self, client: httpx.AsyncClient, settings: MessagingService) -> None:
        self.client = client
        self.settings = settings

    def _callback(self, out: Outgoing) -> str:
        query = urlencode(
            {"m": out.message_id, "sig": status_signature(out.config.key, out.message_id)}
        )
        return f"{self.settings.public_url.rstrip('/')}/v1/providers/sms/status?{query}"

    async def send(self, out: Outgoing, ctx: SendContext) -> SendResult:
        account = out.config.settings.sms
        if account is None:
            return SendResult(OutcomeClass.PERMANENT, error="sms_not_configured")
        assert out.recipient.phone is not None
        if account.base_url and provider_url_problem(
            account.base_url, self.settings.provider_hosts
        ):
            return SendResult(OutcomeClass.PERMANENT, error="provider_url_not_allowed")
        base = (account.base_url or self.settings.sms_api_url).rstrip("/")
        response, failure = await call(
            self.client,
            self.provider,
            "POST",
            f"{base}/2010-04-01/Accounts/{account.account_sid}/Messages.json",
            auth=(account.account_sid, account.auth_token),
            headers={IDEMPOTENCY_HEADER: idempotency_key(out.message_id, self.provider)},
            data={
                "To": out.recipient.phone,
                "From": account.from_number,
                "Body": out.parts.get("text", ""),
                "StatusCallback": self._callback(out),
            },
        )
        if failure is not None:
            return failure
        assert response is not None
        return SendResult.ok(provider_message_id=_sid(response))


def _sid(response: httpx.Response) -> str | None:
    try:
        sid = response.json().get("sid")
    except ValueError:
        return None
    return str(sid) if sid else None
