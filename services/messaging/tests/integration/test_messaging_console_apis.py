"""APIs the console's pages need: write-only provider secrets in settings, ..."""

from __future__ import annotations

import pytest
from messaging_it import SMS_ACCOUNT, Harness

from crm_messaging.repository.tenants import load_config

pytestmark = pytest.mark.infra


async def test_a_masked_provider_secret_keeps_the_stored_one(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant(sms=SMS_ACCOUNT)
    shown = (await h.client.get("/v1/settings", headers=tenant.headers)).json()
    shown["sms"]["from_number"] = "+815099998888"
    shown["sender"]["from_name"] = "お茶の店"

    saved = await h.client.put("/v1/settings", json=shown, headers=tenant.headers)
    async with h.db.transaction() as session:
        stored = (await load_config(session, tenant.tenant_id)).settings

    assert saved.status_code == 200, saved.text
    assert saved.json()["sms"]["auth_token"] == "********"
    assert stored.sms is not None and stored.line is None
    assert (stored.sms.auth_token, stored.sms.from_number) == ("secret-token", "+815099998888")
    assert stored.sender.from_name == "お茶の店"


async def test_a_mask_without_a_stored_secret_is_refused(harness: Harness) -> None:
    h = harness
    tenant = await h.tenant()
    line = {"channel_access_token": "********"}

    answer = await h.client.put("/v1/settings", json={"line": line}, headers=tenant.headers)

    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["path"] == "line.channel_access_token"
