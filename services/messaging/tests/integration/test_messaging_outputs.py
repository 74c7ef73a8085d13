"""Postal DM print batches (exact CSV) and the call list with outcomes as events."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from messaging_it import TOKYO, Harness
from messaging_it import person_traits as traits

pytestmark = pytest.mark.infra

DM = {"offer": "{{ profile.last_name }}様限定 10%OFF", "coupon": "{{ coupon_code }}"}


async def test_dm_batch_downloads_the_exact_print_file_and_marks_it_sent(harness: Harness) -> None:
    h = harness
    h.clock.set(datetime(2026, 3, 2, 23, 30, tzinfo=TOKYO))  # DM has no quiet hours
    tenant = await h.tenant()
    await h.profiles(
        tenant,
        {
            "dm-1": traits(401),
            "dm-2": traits(
                402,
                last_name="佐藤",
                first_name="一郎",
                address_postal_code="〒530-0001",
                address_prefecture="大阪府",
                address_city="大阪市北区",
                address_address1="梅田1-1-1",
                address_address2="梅田ビル 3F",
            ),
        },
    )
    ids = []
    for n, pid in enumerate(("dm-1", "dm-2")):
        m = await h.enqueue(
            tenant,
            source_id="dm-spring",
            profile_id=pid,
            channel="postal_dm",
            template=DM,
            context={"coupon_code": f"SPRING{n}"},
        )
        ids.append(m["message_id"])
        h.clock.advance(timedelta(minutes=1))
    await h.dispatch()
    assert [(await h.message(tenant, mid))["state"] for mid in ids] == ["sending", "sending"]
    listed = (await h.client.get("/v1/dm-batches", headers=tenant.headers)).json()["items"]
    assert [(b["local_date"], b["state"], b["items"]) for b in listed] == [
        ("2026-03-02", "open", 2)
    ]
    batch_id = listed[0]["batch_id"]

    download = await h.client.get(
        f"/v1/dm-batches/{batch_id}/download", params={"encoding": "cp932"}, headers=tenant.headers
    )
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=Shift_JIS"
    expected = (
        "管理番号,郵便番号,都道府県,住所1,住所2,氏名,敬称,offer,coupon\r\n"
        f"{ids[0]},100-0001,東京都,千代田区 千代田1-1,,山田 花子,様,山田様限定 10%OFF,SPRING0\r\n"
        f"{ids[1]},530-0001,大阪府,大阪市北区 梅田1-1-1,梅田ビル 3F,佐藤 一郎,様,"
        "佐藤様限定 10%OFF,SPRING1\r\n"
    )
    assert download.content == expected.encode("cp932")
    utf8 = await h.client.get(
        f"/v1/dm-batches/{batch_id}/download",
        params={"encoding": "utf-8-sig"},
        headers=tenant.headers,
    )
    assert utf8.content == expected.encode("utf-8-sig")

    listed = (await h.client.get("/v1/dm-batches", headers=tenant.headers)).json()["items"]
    assert [(b["state"], b["exported_at"] is not None) for b in listed] == [("exported", True)]
    sent = [await h.message(tenant, mid) for mid in ids]
    assert [(m["state"], m["provider_message_id"]) for m in sent] == [("sent", batch_id)] * 2
    events = await h.events(
        tenant.tenant_id,
        lambda found: [e.type for e in found].count("message.sent") == 2,
    )
    assert sorted(e.data.message_id for e in events if e.type == "message.sent") == sorted(ids)

    # The next piece of the same day opens a new batch: an exported one never changes.
    h.clock.set(datetime(2026, 3, 2, 23, 50, tzinfo=TOKYO))
    later = await h.enqueue(
        tenant, source_id="dm-late", profile_id="dm-1", channel="postal_dm", template=DM
    )
    await h.dispatch()
    listed = (await h.client.get("/v1/dm-batches", headers=tenant.headers)).json()["items"]
    assert sorted((b["state"], b["items"]) for b in listed) == [("exported", 2), ("open", 1)]
    assert date.fromisoformat(listed[0]["local_date"]) == date(2026, 3, 2)
    assert (await h.message(tenant, later["message_id"]))["state"] == "sending"


async def test_a_print_batch_takes_more_than_five_pieces_in_one_round(harness: Harness) -> None:
    h = harness
    h.clock.set(datetime(2026, 3, 5, 10, 0, tzinfo=TOKYO))
    tenant = await h.tenant()
    people = {f"many-{n}": traits(420 + n) for n in range(8)}
    await h.profiles(tenant, people)
    for pid in people:
        await h.enqueue(
            tenant, source_id="dm-many", profile_id=pid, channel="postal_dm", template=DM
        )
    await h.dispatch()  # one round, one connection: eight upserts of the day's open batch
    listed = (await h.client.get("/v1/dm-batches", headers=tenant.headers)).json()["items"]
    assert [(b["local_date"], b["state"], b["items"]) for b in listed] == [
        ("2026-03-05", "open", 8)
    ]


async def test_call_list_entry_and_outcome_event(harness: Harness) -> None:
    h = harness
    h.clock.set(datetime(2026, 3, 3, 11, 0, tzinfo=TOKYO))
    tenant = await h.tenant()
    await h.profiles(tenant, {"call-1": traits(501, f_stage="F2")})
    script = {"script": "{{ profile.name }}様へ 2回目購入のご案内 ({{ traits.f_stage }})"}
    m = await h.enqueue(
        tenant, source_id="f2-call", profile_id="call-1", channel="call", template=script
    )
    await h.dispatch()
    assert (await h.message(tenant, m["message_id"]))["state"] == "sent"
    entries = (await h.client.get("/v1/call-list", headers=tenant.headers)).json()["items"]
    assert entries == [
        {
            "entry_id": m["message_id"],
            "profile_id": "call-1",
            "name": "山田 花子",
            "phone": "+819000000501",
            "reason": "campaign:f2-call",
            "script": {"script": "山田 花子様へ 2回目購入のご案内 (F2)"},
            "state": "open",
            "last_outcome": None,
        }
    ]
    bad = await h.client.post(
        f"/v1/call-list/{m['message_id']}/outcome",
        json={"outcome": "maybe"},
        headers=tenant.headers,
    )
    assert (bad.status_code, bad.json()["error"]["details"][0]["path"]) == (422, "body.outcome")
    for outcome in ("no_answer", "converted"):
        answer = await h.client.post(
            f"/v1/call-list/{m['message_id']}/outcome",
            json={"outcome": outcome, "note": "called"},
            headers=tenant.headers,
        )
        assert answer.status_code == 201
    events = await h.events(
        tenant.tenant_id,
        lambda found: [e.type for e in found].count("message.call_outcome") == 2,
    )
    outcomes = [
        (e.data.outcome, e.data.message_id) for e in events if e.type == "message.call_outcome"
    ]
    assert outcomes == [("no_answer", m["message_id"]), ("converted", m["message_id"])]
    done = (await h.client.get("/v1/call-list?state=done", headers=tenant.headers)).json()["items"]
    assert [(e["entry_id"], e["last_outcome"]) for e in done] == [(m["message_id"], "converted")]
