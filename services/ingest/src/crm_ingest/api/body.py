"""Reading request bodies with a size limit (never buffering more than allowed)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import orjson
from fastapi import Request

from crm_common.errors import ApiError
from crm_ingest import metrics


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"request body over {limit} bytes")


def check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)


async def limited_chunks(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The body's chunks; 413 as soon as more than ``limit`` bytes arrived."""
    check_declared_length(request, limit)
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        yield chunk


async def read_limited(request: Request, limit: int, channel: str) -> bytes:
    buffer = bytearray()
    try:
        async for chunk in limited_chunks(request, limit):
            buffer += chunk
    except ApiError:
        metrics.REJECTED.labels(channel, "too_large").inc()
        raise
    return bytes(buffer)


async def read_json(request: Request, limit: int) -> object:
    raw = await read_limited(request, limit, "api")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        metrics.REJECTED.labels("api", "bad_json").inc()
        raise ApiError(400, "bad_request", f"body is not valid JSON: {exc}") from exc
