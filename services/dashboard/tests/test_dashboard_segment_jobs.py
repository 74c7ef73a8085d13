"""A new segment is filled by a background job: the console shows its progress, keeps
refreshing until it has ended, then the size; a failed fill is an error panel."""

from __future__ import annotations

from typing import Any

import pytest
from dashboard_it import signed_in

pytestmark = pytest.mark.infra

SEGMENT = {
    "id": "s1",
    "name": "Repeaters",
    "description": "",
    "definition": {"trait": "orders_count", "op": ">=", "value": 2},
    "definition_version": 1,
    "kind": "dynamic",
    "size": 1234,
}


def job(state: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "job_1",
        "segment_id": "s1",
        "kind": "fill",
        "reason": "created",
        "state": state,
        "progress": {"done": 250000, "total": 1000000, "percent": 25.0},
        "entered": 1234,
        "exited": 0,
        "error": None,
        **extra,
    }


def fake_segment(console: Any, body: dict[str, Any]) -> None:
    console.fake.routes[("GET", "/v1/segments/s1")] = (200, body)
    members = {"segment_id": "s1", "members": [], "next_cursor": None}
    console.fake.routes[("GET", "/v1/segments/s1/members")] = (200, members)


async def test_a_running_fill_shows_its_progress_and_the_page_refreshes(console) -> None:
    fake_segment(console, SEGMENT | {"job": job("running")})
    async with signed_in(console, "viewer") as (client, _):
        page = await client.get("/segments/s1")
    assert page.status_code == 200
    assert page.headers["refresh"] == "2"
    assert '<div class="panel" role="status" id="segment-job">' in page.text
    assert '<span id="segment-job-percent">25.0</span>%' in page.text
    assert "250,000 / 1,000,000" in page.text and "セグメントを集計中" in page.text
    assert 'id="segment-size"' not in page.text  # not a size yet: members still arrive


async def test_a_finished_fill_shows_the_size_and_stops_refreshing(console) -> None:
    fake_segment(console, SEGMENT | {"job": job("done") | {"progress": {"percent": 100.0}}})
    async with signed_in(console, "viewer") as (client, _):
        page = await client.get("/segments/s1")
    assert page.status_code == 200 and "refresh" not in page.headers
    assert '<span id="segment-size">1,234</span>' in page.text
    assert 'id="segment-job"' not in page.text


async def test_a_failed_fill_is_an_error_panel(console) -> None:
    error = {"code": "query_timeout", "message": "the segment fill ran longer", "details": []}
    fake_segment(console, SEGMENT | {"size": 0, "job": job("failed", error=error)})
    async with signed_in(console, "viewer") as (client, _):
        page = await client.get("/segments/s1")
    assert "refresh" not in page.headers
    assert '<div class="panel error" role="alert" id="segment-job">' in page.text
    assert "集計に失敗しました: the segment fill ran longer" in page.text


async def test_a_created_segment_whose_fill_is_queued_lands_on_its_page(console) -> None:
    console.fake.routes[("POST", "/v1/segments")] = (202, SEGMENT | {"job": job("queued")})
    form = {"name": "Repeaters", "definition": '{"trait": "orders_count", "op": ">=", "value": 2}'}
    async with signed_in(console, "marketer") as (client, csrf):
        answer = await client.post("/segments", data=form | {"csrf_token": csrf})
    assert (answer.status_code, answer.headers["location"]) == (303, "/segments/s1")
