"""The local provider sinks the cluster's messaging sends to: a real SMTP server
(aiosmtpd) and a Twilio-style SMS / LINE push API, each in its own thread. They
record what arrived, keyed by the message id the sender put on it (the Message-ID
``<id@domain>``, the provider idempotency / retry key), and honour idempotency keys as
the real providers do: a key seen before is answered with the first answer and not
delivered again."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from email import message_from_bytes, policy
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


class SmtpSink:
    """Every DATA accepted, by Message-ID; ``deliveries`` counts arrivals per id."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: Counter[str] = Counter()
        self.recipients: dict[str, str] = {}
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(bytes(envelope.content), policy=policy.default)
        message_id = str(message.get("Message-ID", "")).strip("<>").split("@")[0]
        with self.lock:
            self.deliveries[message_id] += 1
            self.recipients[message_id] = ",".join(envelope.rcpt_tos)
        return "250 2.0.0 Ok: queued"

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def snapshot(self) -> Counter[str]:
        with self.lock:
            return Counter(self.deliveries)


class ProviderSink:
    """SMS (Twilio Messages API) and LINE push: ``delivered`` counts first acceptances
    per key (a retried key is not delivered again), ``requests`` every request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.delivered: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self, api: str, key: str) -> bool:
        with self.lock:
            self.requests[f"{api}:{key}"] += 1
            new = f"{api}:{key}" not in self.delivered
            if new:
                self.delivered[f"{api}:{key}"] += 1
            return new

    async def sms(self, request: Request) -> Response:
        await request.form()
        key = request.headers.get("I-Twilio-Idempotency-Token", "")
        self._accept("sms", key)
        return JSONResponse({"sid": f"SM{key[:30]}", "status": "queued"}, status_code=201)

    async def line(self, request: Request) -> Response:
        await request.json()
        key = request.headers.get("X-Line-Retry-Key", "")
        if self._accept("line", key):
            return JSONResponse({}, headers={"x-line-request-id": key})
        return JSONResponse(
            {"message": "The retry key is already accepted"},
            status_code=409,
            headers={"x-line-accepted-request-id": key},
        )

    def start(self) -> None:
        app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self.sms, methods=["POST"]),
                Route("/v2/bot/message/push", self.line, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("provider sink did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
