"""Webhook secrets sealed at rest: AES-256-GCM bound to the row, keys rotated newest
first, and the webhook path opening them once per cache fill, not per request."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_ingest import shopcache
from crm_ingest.repository.tenants import ShopTenant
from crm_ingest.sealing import SealError, SecretBox, key_id_of, secret_row

OLD = "old-key-0123456789-abcdefghijkl"
NEW = "new-key-0123456789-abcdefghijkl"
ROW = secret_row("t_1", "ws_1")


def test_a_sealed_secret_opens_to_itself_and_shows_nothing_of_it() -> None:
    box = SecretBox([NEW])
    secret = "shpss_0123456789abcdef"

    first, second = box.seal(secret, row=ROW), box.seal(secret, row=ROW)

    assert first.startswith(f"v1.{box.newest_key_id}.")
    assert first != second  # a fresh nonce each time
    assert secret not in first and NEW not in first
    assert box.open(first, row=ROW) == box.open(second, row=ROW) == secret


def test_a_sealed_secret_does_not_open_in_another_row_or_altered() -> None:
    box = SecretBox([NEW])
    sealed = box.seal("shpss_tenant_one", row=ROW)
    body = sealed.rsplit(".", 1)[1]
    flipped = sealed[: -len(body)] + ("A" if body[0] != "A" else "B") + body[1:]

    with pytest.raises(SealError, match="another row"):
        box.open(sealed, row=secret_row("t_2", "ws_1"))
    with pytest.raises(SealError):
        box.open(flipped, row=ROW)
    with pytest.raises(SealError, match="not a sealed value"):
        box.open("shpss_plaintext", row=ROW)


def test_rotation_newest_seals_every_key_opens() -> None:
    before = SecretBox.from_setting(OLD)
    during = SecretBox.from_setting(f"{NEW}, {OLD}")
    after = SecretBox.from_setting(NEW)
    sealed_old = before.seal("s1", row=ROW)

    sealed_new = during.seal("s1", row=ROW)

    assert key_id_of(sealed_old) == before.newest_key_id != during.newest_key_id
    assert key_id_of(sealed_new) == during.newest_key_id == after.newest_key_id
    assert during.open(sealed_old, row=ROW) == during.open(sealed_new, row=ROW) == "s1"
    assert after.open(sealed_new, row=ROW) == "s1"
    with pytest.raises(SealError, match="unknown key"):
        after.open(sealed_old, row=ROW)


def test_key_ids_name_keys_without_telling_them() -> None:
    assert SecretBox([OLD]).newest_key_id != SecretBox([NEW]).newest_key_id
    assert SecretBox([OLD]).newest_key_id == SecretBox([OLD]).newest_key_id
    assert len(SecretBox([OLD]).newest_key_id) == 16
    with pytest.raises(ValueError, match="INGEST_SECRETS_KEY"):
        SecretBox.from_setting(" , ")


class _Db:
    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield None


def test_the_webhook_path_opens_secrets_once_per_cache_fill(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loads: list[str] = []

    async def shop_tenant(_: Any, shop_domain: str) -> ShopTenant:
        loads.append(shop_domain)  # where the stored secrets are opened
        return ShopTenant("t_1", "JPY", "Asia/Tokyo", "active", ("s1",))

    monkeypatch.setattr(shopcache.repo, "shop_tenant", shop_tenant)
    cache = shopcache.ShopCache(_Db(), ttl_seconds=60)  # type: ignore[arg-type]

    async def lookups() -> list[ShopTenant | None]:
        return [await cache.get("jp-tea.myshopify.com") for _ in range(1000)]

    found = asyncio.run(lookups())

    assert loads == ["jp-tea.myshopify.com"]
    assert {t.secrets if t else None for t in found} == {("s1",)}
