"""Server-side sessions end: logout (a copied cookie too), password change or reset (every
session of the account), idle timeout, absolute lifetime; ids are fresh at every login."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets

import httpx
import pytest
from conftest import PASSWORD, login
from rating_org import Clock

from listening.tables import WebSession
from surveys.accounts import create_user, issue_password_link, use_password_link

EMAIL = "exec@example.com"


def make_app(settings, clock: Clock):
    """The application with the test's clock and the settings' session timeouts."""
    from listening.app import create_app

    return create_app(settings, clock=clock, manage_pool=False)


NEW_PASSWORD = "another long passphrase"


@pytest.fixture
async def account(db):
    return await create_user(email=EMAIL, name="Eve", roles=["executive"], password=PASSWORD)


class Browsers:
    """Clients of one app, each with its own cookie jar."""

    def __init__(self, app, address: str = "127.0.0.1") -> None:
        self.app = app
        self.address = address
        self.open: list[httpx.AsyncClient] = []

    def new(self, cookies: dict[str, str] | None = None) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=(self.address, 123)),
            base_url="http://testserver.local",
            cookies=cookies,
        )
        self.open.append(client)
        return client

    async def logged_in(self) -> httpx.AsyncClient:
        client = self.new()
        await login(client, EMAIL, PASSWORD)
        return client


@pytest.fixture
async def web(settings, account):
    clock = Clock()
    browsers = Browsers(make_app(settings, clock))
    browsers.clock = clock
    yield browsers
    for client in browsers.open:
        await client.aclose()


async def who(client: httpx.AsyncClient) -> str | None:
    answer = await client.get("/api/session")
    assert answer.status_code == 200
    user = answer.json()["user"]
    return user["email"] if user else None


async def test_logout_deletes_the_session_so_a_copied_cookie_stops_working(web):
    browser = await web.logged_in()
    copied = web.new({"lp_session": browser.cookies["lp_session"]})
    assert await who(copied) == EMAIL
    assert (await copied.get("/api/gaps")).status_code == 200
    out = await browser.post(
        "/logout", headers={"x-csrftoken": browser.cookies["lp_csrf"]}, follow_redirects=False
    )
    assert out.status_code == 303
    assert await who(browser) is None
    assert await who(copied) is None
    assert (await copied.get("/api/gaps")).status_code == 401
    assert await WebSession.count() == 0


async def test_a_password_change_ends_every_session_of_the_account(web):
    first, second = await web.logged_in(), await web.logged_in()
    assert first.cookies["lp_session"] != second.cookies["lp_session"]
    wrong = await first.post(
        "/api/password", json={"current_password": "nope nope", "new_password": NEW_PASSWORD}
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "current_password"
    assert await who(second) == EMAIL  # a refused change ends nothing
    changed = await first.post(
        "/api/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 204, changed.text
    assert await who(first) is None
    assert await who(second) is None
    again = web.new()
    await login(again, EMAIL, NEW_PASSWORD)
    assert await who(again) == EMAIL


async def test_a_password_reset_ends_every_session_of_the_account(web, account):
    browser = await web.logged_in()
    web.clock.advance(minutes=5)
    token = await issue_password_link(account.id, "reset", clock=web.clock)
    await use_password_link(token, NEW_PASSWORD, clock=web.clock)
    assert await who(browser) is None
    assert (await browser.get("/api/gaps")).status_code == 401


async def test_an_idle_session_ends(web):
    browser = await web.logged_in()
    web.clock.advance(hours=7, minutes=58)
    assert await who(browser) == EMAIL  # activity: the idle time starts again
    web.clock.advance(hours=7, minutes=58)
    assert await who(browser) == EMAIL
    web.clock.advance(hours=8, minutes=2)
    assert await who(browser) is None
    assert await WebSession.count() == 0


async def test_a_session_ends_after_its_lifetime_however_active(web):
    browser = await web.logged_in()
    for _ in range(24):  # a request every 7 hours for 7 days
        web.clock.advance(hours=7)
        assert await who(browser) == EMAIL
    web.clock.advance(hours=1, seconds=1)
    assert await who(browser) is None


async def test_timeouts_are_settings(settings, account):
    short = dataclasses.replace(settings, session_idle_seconds=600, session_lifetime_seconds=3600)
    clock = Clock()
    web = Browsers(make_app(short, clock))
    browser = await web.logged_in()
    clock.advance(minutes=9)
    assert await who(browser) == EMAIL
    clock.advance(minutes=11)
    assert await who(browser) is None
    await browser.aclose()


async def test_login_starts_a_fresh_id_and_the_store_keeps_only_hashes(web):
    planted = "a" * 64
    browser = web.new({"lp_session": planted})
    await login(browser, EMAIL, PASSWORD)
    session_id = browser.cookies.get("lp_session", domain="testserver.local")
    assert session_id != planted
    assert await who(web.new({"lp_session": planted})) is None
    rows = await WebSession.select()
    assert [r["key_hash"] for r in rows] == [hashlib.sha256(session_id.encode()).hexdigest()]
    assert session_id not in str(rows)


async def test_anonymous_visits_store_no_session(web):
    browser = web.new()
    assert (await browser.get("/login")).status_code == 200
    assert (await browser.get("/api/session")).status_code == 200
    assert "lp_session" not in browser.cookies
    assert await WebSession.count() == 0


async def test_sessions_in_redis_end_at_logout_too(settings, account):
    from redis.asyncio import Redis

    redis_url = "redis://127.0.0.1:6379/0"
    # A fresh address per run: Redis keeps the login limit's count for the clock's minute (the
    # test's, which stands still) until a minute of real time passes without a login.
    address = f"100.64.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    app = make_app(dataclasses.replace(settings, redis_url=redis_url), Clock())
    web = Browsers(app, address)
    browser = await web.logged_in()
    copied = web.new({"lp_session": browser.cookies["lp_session"]})
    assert await who(copied) == EMAIL
    assert await WebSession.count() == 0  # in Redis, not in the database
    redis = Redis.from_url(redis_url)
    try:
        assert await redis.exists(f"lp_session:{browser.cookies['lp_session']}")
        await browser.post("/logout", headers={"x-csrftoken": browser.cookies["lp_csrf"]})
        assert await who(copied) is None
    finally:
        await redis.aclose()
        for client in web.open:
            await client.aclose()
