"""Email over SMTP (aiosmtplib), with a small pool of kept-open connections.

Window of doubt: the dispatcher has committed ``sending`` before we start;
``ctx.before_data`` commits the marker ``smtp_stage = 'data'`` right before the
DATA command, and the dispatcher commits ``sent`` right after the 250 reply.
See :mod:`crm_messaging.sending.recovery` for what happens after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiosmtplib

from crm_common.events.customers import Channel
from crm_messaging import metrics
from crm_messaging.config import MessagingService
from crm_messaging.domain.backoff import OutcomeClass, ProviderOutcome, classify_smtp
from crm_messaging.sending.channels.base import Outgoing, SendContext, SendResult
from crm_messaging.sending.channels.email_message import build_email, envelope_sender

log = logging.getLogger(__name__)


class SmtpPool:
    def __init__(self, settings: MessagingService) -> None:
        self.settings = settings
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(settings.smtp_connections)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout,
            start_tls=s.smtp_start_tls,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
        )
        await smtp.connect()
        return smtp

    async def acquire(self) -> aiosmtplib.SMTP:
        await self._slots.acquire()
        try:
            while not self._idle.empty():
                smtp = self._idle.get_nowait()
                if smtp.is_connected:
                    return smtp
            return await self._connect()
        except BaseException:
            self._slots.release()
            raise

    def release(self, smtp: aiosmtplib.SMTP, reusable: bool) -> None:
        if reusable and smtp.is_connected:
            self._idle.put_nowait(smtp)
        else:
            smtp.close()
        self._slots.release()

    async def close(self) -> None:
        while not self._idle.empty():
            smtp = self._idle.get_nowait()
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()


def _failure(code: int | None, error: str) -> SendResult:
    kind = OutcomeClass.TRANSIENT if code is None else classify_smtp(code)
    metrics.PROVIDER_ERRORS.labels("smtp", str(code or error)).inc()
    return SendResult(kind, ProviderOutcome(connection_error=True), error=error)


class EmailAdapter:
    channel = Channel.EMAIL
    provider = "smtp"
    in_transaction = False

    def __init__(self, pool: SmtpPool, settings: MessagingService) -> None:
        self.pool = pool
        self.settings = settings

    async def send(self, out: Outgoing, ctx: SendContext) -> SendResult:
        assert out.recipient.email is not None
        sender = out.config.settings.sender
        mail = build_email(
            message_id=out.message_id,
            sender=sender,
            default_from=self.settings.default_from_address,
            to=out.recipient.email,
            parts=out.parts,
            unsubscribe_url=out.unsubscribe_url,
            now=ctx.now,
        )
        envelope_from = envelope_sender(out.message_id, sender, self.settings.default_from_address)
        started = time.perf_counter()
        try:
            smtp = await self.pool.acquire()
        except (aiosmtplib.SMTPException, OSError) as exc:
            return _failure(None, f"smtp_connect:{type(exc).__name__}")
        try:
            return await self._transaction(smtp, envelope_from, out.recipient.email, mail, ctx)
        finally:
            self.pool.release(smtp, reusable=True)  # unless the failure closed it
            metrics.PROVIDER_SECONDS.labels("smtp").observe(time.perf_counter() - started)

    async def _transaction(
        self, smtp: aiosmtplib.SMTP, sender: str, to: str, mail: bytes, ctx: SendContext
    ) -> SendResult:
        try:
            await smtp.mail(sender)
            await smtp.rcpt(to)
            await ctx.before_data()
            response = await smtp.data(mail)
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(smtp)
            return _failure(exc.code, f"smtp_{exc.code}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            smtp.close()
            return _failure(None, f"smtp:{type(exc).__name__}")
        return SendResult.ok(provider_message_id=_queue_id(response.message))


async def _reset(smtp: aiosmtplib.SMTP) -> None:
    try:
        await smtp.rset()
    except (aiosmtplib.SMTPException, OSError):
        smtp.close()


def _queue_id(reply: str) -> str | None:
    # "2.0.0 Ok: queued as 4Bd3..." -> the server's queue id, if it says one.
    marker = "queued as "
    return reply.split(marker, 1)[1].strip() or None if marker in reply else None
