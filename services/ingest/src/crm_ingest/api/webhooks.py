"""``POST /webhooks/shopify``: verified, durably on crm.raw.v1, then 200."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import ORJSONResponse

from crm_common.errors import ApiError
from crm_common.events import utcnow
from crm_ingest import metrics
from crm_ingest.api.body import read_limited
from crm_ingest.api.deps import Ctx
from crm_ingest.handlers.errors import BadInput, Unauthorized
from crm_ingest.handlers.webhooks import Delivery, receive_shopify

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/shopify",
    summary="Receive a Shopify webhook",
    responses={401: {}, 400: {}, 413: {}},
)
async def shopify_webhook(request: Request, ctx: Ctx) -> ORJSONResponse:
    started = time.perf_counter()
    status = 500
    try:
        body = await read_limited(request, ctx.settings.service.max_webhook_bytes, "webhook")
        headers = {k: v for k, v in request.headers.items() if k.startswith("x-shopify-")}
        outcome = await receive_shopify(ctx, Delivery(headers, body, utcnow()))
        status = 200
        return ORJSONResponse({"status": outcome})
    except ApiError as exc:
        status = exc.status
        raise
    except (Unauthorized, BadInput) as exc:
        status = 401 if isinstance(exc, Unauthorized) else 400
        raise
    finally:
        metrics.WEBHOOK_SECONDS.labels(str(status)).observe(time.perf_counter() - started)
