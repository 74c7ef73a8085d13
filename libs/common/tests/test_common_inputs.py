"""crm_common.inputs: what PostgreSQL cannot store is refused at the door, naming it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import TypeAdapter, ValidationError

from crm_common.errors import install_error_handlers
from crm_common.events._base import UtcDatetime
from crm_common.inputs import Day, Instant, Int32, Int64, StorableInput


def _app(max_bytes: int | None = None) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(StorableInput, max_bytes=max_bytes, exempt=("/webhooks/",))

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str, q: str = "") -> dict[str, str]:
        return {"thing_id": thing_id, "q": q}

    @app.post("/v1/things")
    async def create(body: dict[str, Any]) -> dict[str, Any]:
        return body

    @app.post("/v1/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/webhooks/shop")
    async def webhook(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return app


async def _call(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, url, **kwargs)


def _refused_at(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    path: str = error["details"][0]["path"]
    assert error["message"].startswith(f"{path}: ")
    return path


async def test_a_nul_in_a_query_parameter_is_refused_naming_it() -> None:
    response = await _call(_app(), "GET", "/v1/things/t1?q=first&f_stage=F1%00")
    assert _refused_at(response) == "query.f_stage"
    assert "NUL" in response.json()["error"]["message"]


async def test_a_nul_in_the_path_is_refused() -> None:
    assert _refused_at(await _call(_app(), "GET", "/v1/things/a%00b")) == "path"


async def test_a_nul_or_a_lone_surrogate_in_json_is_refused_with_its_path() -> None:
    nul = b'{"definition": {"all": [{"value": "x"}, {"value": "y\\u0000"}]}}'
    surrogate = b'{"name": "\\ud800"}'
    headers = {"content-type": "application/json"}
    first = await _call(_app(), "POST", "/v1/things", content=nul, headers=headers)
    second = await _call(_app(), "POST", "/v1/things", content=surrogate, headers=headers)
    assert _refused_at(first) == "body.definition.all.1.value"
    assert _refused_at(second) == "body.name"
    assert "surrogate" in second.json()["error"]["message"]


async def test_an_integer_wider_than_64_bits_in_free_json_is_refused() -> None:
    wide = b'{"properties": {"points": [1, 83428739757295213219633092886528]}}'
    fits = b'{"properties": {"points": [1, 9223372036854775807], "id": "12345678901234567890"}}'
    headers = {"content-type": "application/json"}
    refused = await _call(_app(), "POST", "/v1/things", content=wide, headers=headers)
    passed = await _call(_app(), "POST", "/v1/things", content=fits, headers=headers)
    assert _refused_at(refused) == "body.properties.points.1"
    assert passed.status_code == 200, passed.text


async def test_a_nul_in_a_json_key_or_a_form_field_is_refused() -> None:
    key = await _call(_app(), "POST", "/v1/things", json={"tags": {"a\x00": 1}})
    form = await _call(_app(), "POST", "/v1/raw", data={"email": "a\x00@example.com"})
    assert _refused_at(key) == "body.tags"
    assert _refused_at(form) == "body.email"


async def test_storable_bodies_arrive_unchanged() -> None:
    body = {"emoji": "\U0001f600", "escaped": "\\u0000 is six characters", "n": [1, 2]}
    # ensure_ascii: the emoji travels as a surrogate pair escape, which is fine.
    content = httpx.Request("POST", "/", json=body).content.replace(
        "\U0001f600".encode(), b"\\ud83d\\ude00"
    )
    response = await _call(
        _app(), "POST", "/v1/things", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == body


async def test_exempt_paths_and_bodies_over_the_cap_pass_untouched() -> None:
    nul = b'{"note": "\\u0000"}'
    headers = {"content-type": "application/json"}
    webhook = await _call(_app(), "POST", "/webhooks/shop", content=nul, headers=headers)
    big = nul + b" " * 4096
    over = await _call(_app(max_bytes=1024), "POST", "/v1/raw", content=big, headers=headers)
    assert webhook.json() == {"bytes": len(nul)}
    assert over.json() == {"bytes": len(big)}


async def test_a_big_body_is_checked_too() -> None:
    big = b'{"pad": "' + b"x" * 200_000 + b'", "note": "\\u0000"}'
    headers = {"content-type": "application/json"}
    response = await _call(_app(), "POST", "/v1/things", content=big, headers=headers)
    assert _refused_at(response) == "body.note"


async def test_deep_nesting_costs_no_stack_and_is_never_a_500() -> None:
    headers = {"content-type": "application/json"}
    deep = b'{"a": ' + b"[" * 900 + b'"\\u0000"' + b"]" * 900 + b"}"
    too_deep = b'{"a": ' + b"[" * 200_000 + b'"\\u0000"' + b"]" * 200_000 + b"}"
    found = await _call(_app(), "POST", "/v1/things", content=deep, headers=headers)
    refused = await _call(_app(), "POST", "/v1/things", content=too_deep, headers=headers)
    assert _refused_at(found) == "body.a" + ".0" * 900
    assert refused.status_code in (400, 422), refused.text  # the route's own answer


@pytest.mark.parametrize(
    ("kind", "bad", "good"),
    [
        (Int64, 2**63, 2**63 - 1),
        (Int64, -(2**63) - 1, -(2**63)),
        (Int32, 2**31, 2**31 - 1),
        (Day, date(1, 1, 1), date(2, 1, 1)),
        (Day, date(9999, 12, 31), date(9998, 12, 31)),
        (Instant, datetime(1, 1, 1, tzinfo=UTC), datetime(2, 1, 1, tzinfo=UTC)),
    ],
)
def test_bounded_types_refuse_what_a_column_cannot_take(kind: Any, bad: Any, good: Any) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(kind)
    assert adapter.validate_python(good) == good
    with pytest.raises(ValidationError):
        adapter.validate_python(bad)


@pytest.mark.parametrize(
    "stamp", ["0001-01-01T00:00:00+09:00", "9999-12-31T23:59:59-12:00", "0001-06-01T00:00:00Z"]
)
def test_event_timestamps_off_the_calendar_are_invalid_not_an_overflow(stamp: str) -> None:
    # astimezone(UTC) raised OverflowError (a 500 at ingest's generic API) for the first two.
    with pytest.raises(ValidationError, match="between the years 2 and 9998"):
        TypeAdapter(UtcDatetime).validate_python(stamp)
    assert TypeAdapter(UtcDatetime).validate_python("2026-01-01T09:00:00+09:00") == datetime(
        2026, 1, 1, tzinfo=UTC
    )
