"""Issue 12, item 2: the console's Operations page is scoped to the signed-in tenant.

Before, every viewer of every tenant saw the whole installation's dead letters (with
their error texts) and any tenant's admin replayed everyone's. Now the page asks ingest
with a token naming the user's tenant and role, so ingest answers and replays that
tenant's letters only; an installation operator (the CLI's ``--operator`` flag) asks
for every tenant's. Ingest is faked here: it answers by the token it receives.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from dashboard_it import PASSWORD, csrf_of, sign_in

from crm_common.internal_auth import Grant, dev_key, verify
from crm_dashboard import repository as repo
from crm_dashboard.handlers.users import create_user

pytestmark = pytest.mark.infra


def _letter(tenant: str | None, offset: int) -> dict[str, Any]:
    return {
        "dlq_partition": 0,
        "dlq_offset": offset,
        "consumer": "profile",
        "tenant_id": tenant,
        "topic": "crm.events.v1",
        "partition": 1,
        "offset": offset,
        "error": f"ValueError: letter-of-{tenant}",
        "attempts": 3,
        "failed_at": "2026-12-01T00:00:00+00:00",
        "replayed": False,
    }


class FakeIngest:
    """Ingest's dead-letter routes, answering by the console's token as ingest does."""

    def __init__(self, tenants: list[str | None]) -> None:
        self.letters = [_letter(t, i) for i, t in enumerate(tenants)]
        self.grants: list[tuple[str, Grant]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path not in ("/admin/dlq", "/admin/dlq/replay"):
            raise httpx.ConnectError("down", request=request)
        token = request.headers["authorization"].removeprefix("Bearer ")
        grant = verify(token, dev_key("ingest"), audience="ingest")
        self.grants.append((request.url.path, grant))
        mine = [x for x in self.letters if grant.operator or x["tenant_id"] == grant.tenant_id]
        if request.url.path == "/admin/dlq":
            return httpx.Response(200, json={"count": len(mine), "letters": mine})
        return httpx.Response(200, json={"replayed": len(mine)})


@pytest.fixture
def ingest(console: Any) -> Iterator[FakeIngest]:
    fake = FakeIngest([console.tenant_id, console.other_tenant_id, None])
    real = console.ctx.http
    console.ctx.http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))
    yield fake
    console.ctx.http = real


@asynccontextmanager
async def _signed_in(console: Any, tenant: str, email: str) -> AsyncIterator[httpx.AsyncClient]:
    async with console.client() as client:
        assert (await sign_in(client, tenant, email)).status_code == 303
        yield client


async def test_a_tenants_viewer_and_admin_see_and_replay_only_their_letters(
    console: Any, ingest: FakeIngest
) -> None:
    tokyo, london = console.tenant_id, console.other_tenant_id
    async with _signed_in(console, tokyo, "viewer@shop.test") as client:
        as_viewer = await client.get("/operations")
    async with _signed_in(console, tokyo, "admin@shop.test") as client:
        page = await client.get("/operations")
        replay = await client.post("/operations/replay", data={"csrf_token": csrf_of(page.text)})
    assert as_viewer.status_code == page.status_code == 200
    for html in (as_viewer.text, page.text):
        assert f"letter-of-{tokyo}" in html
        assert f"letter-of-{london}" not in html and "letter-of-None" not in html
    assert (replay.status_code, replay.headers["location"]) == (303, "/operations?replayed=1")
    asked = [(path, g.tenant_id, g.role, g.operator) for path, g in ingest.grants]
    assert asked == [
        ("/admin/dlq", tokyo, "viewer", False),
        ("/admin/dlq", tokyo, "admin", False),
        ("/admin/dlq/replay", tokyo, "admin", False),
    ]


async def test_an_operator_sees_and_replays_every_tenants_letters(
    console: Any, ingest: FakeIngest
) -> None:
    email = f"ops-{uuid.uuid4().hex[:6]}@install.test"
    async with console.ctx.db.transaction() as session:
        await create_user(session, console.tenant_id, email, "admin", PASSWORD, operator=True)
    async with _signed_in(console, console.tenant_id, email) as client:
        page = await client.get("/operations")
        replay = await client.post("/operations/replay", data={"csrf_token": csrf_of(page.text)})
    for tenant in (console.tenant_id, console.other_tenant_id, None):
        assert f"letter-of-{tenant}" in page.text
    assert 'id="lag"' in page.text and 'id="stages"' in page.text
    assert replay.headers["location"] == "/operations?replayed=3"
    asked = [(path, g.tenant_id, g.operator) for path, g in ingest.grants]
    assert asked == [("/admin/dlq", None, True), ("/admin/dlq/replay", None, True)]


async def test_a_tenant_admin_cannot_make_an_operator(console: Any) -> None:
    async with _signed_in(console, console.tenant_id, "admin@shop.test") as client:
        page = await client.get("/users")
        form = {"email": "sneaky@shop.test", "role": "admin", "password": "long enough"}
        form |= {"operator": "true", "csrf_token": csrf_of(page.text)}
        assert (await client.post("/users", data=form)).status_code == 303
    async with console.ctx.db.transaction() as session:
        row = await repo.user_by_login(session, console.tenant_id, "sneaky@shop.test")
    assert row is not None and row.operator is False
