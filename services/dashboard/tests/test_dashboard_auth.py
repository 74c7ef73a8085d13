"""Sign-in, sessions in signed cookies, sign-out, redirects."""

from __future__ import annotations

import httpx
import pytest
from dashboard_it import PASSWORD, csrf_of, dashboard_settings, sign_in

from crm_dashboard.app import create_app

pytestmark = pytest.mark.infra


async def test_anonymous_pages_redirect_to_sign_in(console) -> None:
    async with console.client() as client:
        for path in ("/", "/rfm", "/customers", "/segments", "/journeys", "/dm", "/operations"):
            answer = await client.get(path)
            assert (answer.status_code, answer.headers["location"]) == (
                303,
                f"/login?next={path}",
            )


async def test_wrong_password_and_unknown_email_are_refused_alike(console) -> None:
    async with console.client() as client:
        wrong = await sign_in(client, console.tenant_id, "admin@shop.test", "not the password")
        unknown = await sign_in(client, console.tenant_id, "nobody@shop.test")
        other_tenant = await sign_in(client, console.other_tenant_id, "marketer@shop.test")
        assert [wrong.status_code, unknown.status_code, other_tenant.status_code] == [401] * 3
        assert "uid" not in client.cookies.get("crm_console", "")
        assert (await client.get("/")).status_code == 303


async def test_sign_in_sets_a_signed_http_only_lax_cookie_and_sign_out_clears_it(console) -> None:
    async with console.client() as client:
        answer = await sign_in(client, console.tenant_id, "  Marketer@Shop.test ")
        assert (answer.status_code, answer.headers["location"]) == (303, "/")
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("crm_console=")
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        assert "secure" not in cookie.lower()  # DASHBOARD_COOKIE_SECURE=false in tests
        home = await client.get("/segments/new")
        assert home.status_code == 200
        assert "marketer@shop.test" in home.text
        out = await client.post("/logout", data={"csrf_token": csrf_of(home.text)})
        assert (out.status_code, out.headers["location"]) == (303, "/login")
        assert (await client.get("/segments/new")).status_code == 303


async def test_a_tampered_cookie_is_not_a_session(console) -> None:
    async with console.client() as client:
        await sign_in(client, console.tenant_id, "admin@shop.test")
        value = client.cookies["crm_console"]
        client.cookies.clear()
        client.cookies.set("crm_console", value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB"))
        assert (await client.get("/")).status_code == 303


async def test_next_only_redirects_inside_the_console(console) -> None:
    async with console.client() as client:
        page = await client.get("/login")
        form = {"tenant": console.tenant_id, "email": "viewer@shop.test", "password": PASSWORD}
        form |= {"csrf_token": csrf_of(page.text), "next": "https://evil.example/"}
        answer = await client.post("/login", data=form)
        assert (answer.status_code, answer.headers["location"]) == (303, "/")


async def test_secure_flag_when_configured(infra) -> None:
    app = create_app(dashboard_settings(infra, cookie_secure=True))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        answer = await client.get("/login")
    assert "; secure" in answer.headers["set-cookie"].lower()


async def test_an_account_is_locked_after_five_failures_even_for_the_right_password(
    console,
) -> None:
    async with console.client("198.51.100.7") as client:
        failures = [
            (await sign_in(client, console.tenant_id, "viewer@shop.test", f"guess {n}")).status_code
            for n in range(5)
        ]
        locked = await sign_in(client, console.tenant_id, "viewer@shop.test")
    async with console.client("203.0.113.9") as elsewhere:  # the account, not the address
        also_locked = await sign_in(elsewhere, console.tenant_id, "Viewer@Shop.test ")
        other_account = await sign_in(elsewhere, console.tenant_id, "marketer@shop.test")

    assert failures == [401] * 5
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    assert "Too many failed sign-ins" in locked.text or "ロック" in locked.text
    assert also_locked.status_code == 429
    assert other_account.status_code == 303


async def test_an_address_is_throttled_across_accounts(console) -> None:
    from crm_dashboard.handlers.signin_limits import ADDRESS_LIMIT

    async with console.client("192.0.2.44") as client:
        for n in range(ADDRESS_LIMIT):
            email = f"nobody{n}@shop.test"  # unknown accounts fail alike
            assert (await sign_in(client, console.tenant_id, email, "x")).status_code == 401
        blocked = await sign_in(client, console.tenant_id, "admin@shop.test")
    async with console.client("192.0.2.45") as other:
        allowed = await sign_in(other, console.tenant_id, "admin@shop.test")

    assert blocked.status_code == 429
    assert allowed.status_code == 303


async def test_a_success_clears_the_account_count(console) -> None:
    async with console.client("198.51.100.20") as client:
        for n in range(4):
            await sign_in(client, console.tenant_id, "admin@shop.test", f"typo {n}")
        assert (await sign_in(client, console.tenant_id, "admin@shop.test")).status_code == 303
        for n in range(4):
            await sign_in(client, console.tenant_id, "admin@shop.test", f"typo again {n}")
        assert (await sign_in(client, console.tenant_id, "admin@shop.test")).status_code == 303


async def test_passwords_are_hashed_off_the_event_loop(console, monkeypatch) -> None:
    import threading

    from crm_dashboard.handlers import users

    threads: list[int] = []
    real = users._verify

    def spy(password_hash: str, password: str) -> bool:
        threads.append(threading.get_ident())
        return real(password_hash, password)

    monkeypatch.setattr(users, "_verify", spy)
    async with console.client("198.51.100.30") as client:
        assert (await sign_in(client, console.tenant_id, "marketer@shop.test")).status_code == 303

    assert threads and threading.get_ident() not in threads
