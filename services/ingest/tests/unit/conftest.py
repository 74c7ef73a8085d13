"""Shared helpers for the ingest domain unit tests."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crm_ingest.domain import RawWebhook, TenantContext

SHOP = "jp-tea.myshopify.com"
RECEIVED_AT = datetime(2024, 6, 1, 3, 0, tzinfo=UTC)
TRIGGERED_AT = datetime(2024, 6, 1, 2, 59, 58, tzinfo=UTC)


def fixtures_dir() -> Path:
    configured = os.environ.get("CRM_SHOPIFY_FIXTURES")
    if configured:
        return Path(configured)
    return Path(__file__).parents[4] / "tests" / "fixtures" / "shopify"


@pytest.fixture
def load_fixture() -> Callable[[str], dict[str, Any]]:
    """A fresh (deep-copied) body per call, so tests may mutate it."""
    cache: dict[str, dict[str, Any]] = {}

    def load(name: str) -> dict[str, Any]:
        if name not in cache:
            cache[name] = json.loads((fixtures_dir() / name).read_text(encoding="utf-8"))
        return copy.deepcopy(cache[name])

    return load


def _make_raw(topic: str, body: dict[str, Any], webhook_id: str = "wh-1") -> RawWebhook:
    return RawWebhook(
        shop_domain=SHOP,
        topic=topic,
        webhook_id=webhook_id,
        event_id="ev-1",
        triggered_at=TRIGGERED_AT,
        api_version="2024-10",
        received_at=RECEIVED_AT,
        body=body,
    )


@pytest.fixture(scope="session")
def make_raw() -> Callable[..., RawWebhook]:
    """``make_raw(topic, body, webhook_id="wh-1")``: a delivery from jp-tea.myshopify.com
    received 2024-06-01T03:00:00Z, triggered 2024-06-01T02:59:58Z."""
    return _make_raw


@pytest.fixture(scope="session")
def usd_tenant() -> TenantContext:
    return TenantContext(tenant_id="t-usd", currency="USD", timezone="America/New_York")


@pytest.fixture(scope="session")
def jpy_tenant() -> TenantContext:
    return TenantContext(tenant_id="t-jp")
