"""Issue 12, low items: the SMS status callback checks its signature before it
locks the message row, and one character cp932 cannot hold no longer fails a
whole postal DM print batch (it is printed as 〓 and reported)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

import pytest
from messaging_it import SMS_ACCOUNT, TOKYO, Harness
from messaging_it import person_traits as traits
from messaging_providers import ProviderServer
from sqlalchemy import select

from crm_messaging.tables import messages

pytestmark = pytest.mark.infra


async def test_an_unsigned_status_callback_never_waits_for_the_row_lock(
    harness: Harness, provider_server: ProviderServer
) -> None:
    h = harness
    tenant = await h.tenant(sms=SMS_ACCOUNT, quiet_hours={})
    await h.profiles(tenant, {"cb-1": traits(9301)})
    m = await h.enqueue(
        tenant, source_id="cb", profile_id="cb-1", channel="sms", template={"text": "hi"}
    )
    await h.dispatch()
    [call] = provider_server.calls_for("sms", "+819000009301")
    assert call.callback is not None
    path = call.callback.removeprefix("http://testserver")
    forged = re.sub(r"sig=[0-9a-f]+", "sig=" + "0" * 32, path)
    form = {"MessageSid": "x", "MessageStatus": "delivered"}
    async with h.db.transaction() as holder:  # e.g. the dispatcher recording this message
        await holder.execute(
            select(messages.c.message_id)
            .where(messages.c.message_id == m["message_id"])
            .with_for_update()
        )
        refused = await asyncio.wait_for(h.client.post(forged, data=form), timeout=5)
        assert refused.status_code == 403
        genuine = asyncio.create_task(h.client.post(path, data=form))
        await asyncio.sleep(0.5)
        assert not genuine.done()  # a signed callback does wait for the lock
    assert (await asyncio.wait_for(genuine, timeout=10)).status_code == 204
    assert (await h.message(tenant, m["message_id"]))["delivered_at"] is not None


DM = {"offer": "{{ profile.last_name }}様限定 😀10%OFF", "coupon": "{{ coupon_code }}"}


async def test_a_cp932_batch_with_characters_it_cannot_hold_prints_and_reports(
    harness: Harness,
) -> None:
    h = harness
    h.clock.set(datetime(2026, 3, 4, 10, 0, tzinfo=TOKYO))
    tenant = await h.tenant()
    await h.profiles(
        tenant, {"pr-1": traits(9311), "pr-2": traits(9312, last_name="𠮷野", first_name="太郎")}
    )
    ids = []
    for pid in ("pr-1", "pr-2"):
        m = await h.enqueue(
            tenant,
            source_id="dm-emoji",
            profile_id=pid,
            channel="postal_dm",
            template=DM,
            context={"coupon_code": "C1"},
        )
        ids.append(m["message_id"])
    await h.dispatch()
    [batch] = (await h.client.get("/v1/dm-batches", headers=tenant.headers)).json()["items"]
    url = f"/v1/dm-batches/{batch['batch_id']}"

    report = await h.client.get(f"{url}/replacements", headers=tenant.headers)
    download = await h.client.get(f"{url}/download", headers=tenant.headers)

    assert download.status_code == 200
    assert download.headers["x-dm-replaced-cells"] == "3"
    lines = download.content.decode("cp932").split("\r\n")
    # Rows follow the dispatch order, which two messages due at once do not fix.
    rows = {line.split(",", 1)[0]: n for n, line in enumerate(lines[1:3])}
    assert sorted(rows) == sorted(ids)
    assert lines[1 + rows[ids[0]]] == (
        f"{ids[0]},100-0001,東京都,千代田区 千代田1-1,,山田 花子,様,山田様限定 〓10%OFF,C1"
    )
    assert lines[1 + rows[ids[1]]] == (
        f"{ids[1]},100-0001,東京都,千代田区 千代田1-1,,〓野 太郎,様,〓野様限定 〓10%OFF,C1"
    )
    expected = [
        {"row": rows[ids[0]], "message_id": ids[0], "column": "offer", "characters": "😀"},
        {"row": rows[ids[1]], "message_id": ids[1], "column": "氏名", "characters": "𠮷"},
        {"row": rows[ids[1]], "message_id": ids[1], "column": "offer", "characters": "𠮷😀"},
    ]
    body = report.json()
    assert (body["batch_id"], body["encoding"]) == (batch["batch_id"], "cp932")
    assert sorted(body["items"], key=lambda x: (x["row"], x["column"] != "氏名")) == sorted(
        ({**x, "replacement": "〓"} for x in expected),
        key=lambda x: (x["row"], x["column"] != "氏名"),
    )
    assert [(await h.message(tenant, mid))["state"] for mid in ids] == ["sent", "sent"]
    utf8 = await h.client.get(f"{url}/download?encoding=utf-8-sig", headers=tenant.headers)
    assert utf8.headers["x-dm-replaced-cells"] == "0"
    assert "𠮷野 太郎" in utf8.content.decode("utf-8-sig")
