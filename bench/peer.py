"""The peer of the webhook front: the smallest FastAPI + aiokafka endpoint that does
the front's essential work (verify the body's HMAC, produce it with acks=all, await
the acknowledgement, answer 200). bench/front.py runs it beside ingest, the same way
(uvicorn, same worker counts), so "0.8 x the peer" is measured, not claimed.

``uvicorn bench.peer:app`` with PEER_BOOTSTRAP, PEER_TOPIC and PEER_SECRET set.
"""

import base64
import hashlib
import hmac
import os
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request, Response

SECRET, TOPIC = os.environ["PEER_SECRET"].encode(), os.environ["PEER_TOPIC"]
kafka: AIOKafkaProducer


@asynccontextmanager
async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
    global kafka
    kafka = AIOKafkaProducer(bootstrap_servers=os.environ["PEER_BOOTSTRAP"], acks="all")
    await kafka.start()
    yield
    await kafka.stop()


app = FastAPI(lifespan=lifespan)


@app.post("/webhooks/shopify")
async def webhook(request: Request) -> Response:
    body = await request.body()
    digest = base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest())
    if not hmac.compare_digest(digest, request.headers.get("x-shopify-hmac-sha256", "").encode()):
        return Response(status_code=401)
    key = request.headers.get("x-shopify-webhook-id", "").encode()
    await kafka.send_and_wait(TOPIC, body, key=key)
    return Response(status_code=200)
