"""Local provider servers for the tests: a real SMTP server and real HTTP APIs.

Both run in their own thread (own event loop), so a test that blocks its own
loop (starting a service process) never stalls them. They record every request,
honour idempotency keys as the real providers do, and fail on demand.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- SMTP -------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _SmtpHandler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.server.lock:
            if self.server.fail_codes:
                return self.server.fail_codes.pop(0)
            self.server.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 2.0.0 Ok: queued as " + str(len(self.server.received))


class SmtpServer:
    """aiosmtpd on a free port; ``received`` in arrival order; ``fail_codes`` replies next."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.fail_codes: list[str] = []
        self.port = free_port()
        self.controller = Controller(_SmtpHandler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_tos]


# -- HTTP providers ------------------------------------------------------------


@dataclass
class Call:
    api: str  # "sms" | "line"
    key: str | None
    to: str
    body: str
    status: int
    callback: str | None = None


@dataclass
class ProviderServer:
    """A Twilio-style Messages API and a LINE push API in one process.

    ``failures`` is a queue of modes applied to the next requests: ``"503"``,
    ``"429"`` (Retry-After: 0) or ``"timeout"`` (the request IS accepted, but the
    answer comes later than the client waits - the nastiest case for duplicates).
    """

    delay: float = 3.0
    latency: float = 0.0  # every answer waits this long (a send burst then spans a crash)
    calls: list[Call] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> first answer
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = field(default_factory=free_port)
    _sids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _next_failure(self) -> str | None:
        with self.lock:
            return self.failures.pop(0) if self.failures else None

    def _record(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    async def _accept(self, api: str, key: str, to: str, body: str) -> tuple[bool, dict[str, Any]]:
        """(new, answer): the first request with a key is sent; later ones get its answer."""
        with self.lock:
            if key in self.accepted:
                return False, self.accepted[key]
            answer = {"sid": f"SM{next(self._sids):032d}", "to": to, "body": body, "api": api}
            self.accepted[key] = answer
            return True, answer

    async def _fail(self, mode: str, api: str, key: str, to: str, body: str) -> Response | None:
        if mode == "timeout":
            await self._accept(api, key, to, body)
            await asyncio.sleep(self.delay)
            self._record(Call(api, key, to, body, 0))
            return JSONResponse({"late": True}, status_code=201)
        status = int(mode)
        self._record(Call(api, key, to, body, status))
        headers = {"Retry-After": "0"} if status == 429 else {}
        return JSONResponse({"error": mode}, status_code=status, headers=headers)

    async def sms(self, request: Request) -> Response:
        form = await request.form()
        if self.latency:
            await asyncio.sleep(self.latency)
        key = request.headers.get("I-Twilio-Idempotency-Token", "")
        to, body = str(form["To"]), str(form["Body"])
        mode = self._next_failure()
        if mode is not None:
            return await self._fail(mode, "sms", key, to, body)
        new, answer = await self._accept("sms", key, to, body)
        callback = str(form.get("StatusCallback") or "")
        self._record(Call("sms", key, to, body, 201 if new else 200, callback))
        return JSONResponse({"sid": answer["sid"], "status": "queued"}, status_code=201)

    async def line(self, request: Request) -> Response:
        payload = await request.json()
        if self.latency:
            await asyncio.sleep(self.latency)
        key = request.headers.get("X-Line-Retry-Key", "")
        to, body = payload["to"], payload["messages"][0]["text"]
        mode = self._next_failure()
        if mode is not None:
            return await self._fail(mode, "line", key, to, body)
        new, answer = await self._accept("line", key, to, body)
        self._record(Call("line", key, to, body, 200 if new else 409))
        if new:
            return JSONResponse({}, headers={"x-line-request-id": answer["sid"]})
        return JSONResponse(
            {"message": "The retry key is already accepted"},
            status_code=409,
            headers={"x-line-accepted-request-id": answer["sid"]},
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self.sms, methods=["POST"]),
                Route("/v2/bot/message/push", self.line, methods=["POST"]),
            ]
        )

    def start(self) -> None:
        config = uvicorn.Config(
            self.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("provider server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def accepted_per_recipient(self, api: str) -> Counter[str]:
        with self.lock:
            return Counter(a["to"] for a in self.accepted.values() if a["api"] == api)

    def calls_for(self, api: str, to: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.api == api and c.to == to]
