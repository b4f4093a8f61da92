"""Set-password and reset links: emailed through the outbox, single-use, valid 48 hours."""

from __future__ import annotations

import asyncio
import re

import pytest
from conftest import PASSWORD
from rating_org import Clients, Clock, load_org, make_app

from surveys.accounts import authenticate, create_user
from surveys.errors import Gone, Invalid
from surveys.password_links import (
    check_link,
    process_reset_requests,
    request_reset,
    set_password,
)
from surveys.tables import Message, User

NEW_PASSWORD = "a brand new passphrase"
BASE = "http://testserver.local"


@pytest.fixture
async def web(settings):
    await load_org()
    await create_user(email="admin@example.com", name="Ada", roles=["admin"], password=PASSWORD)
    clock = Clock()
    pool = Clients(make_app(settings, clock))
    pool.clock = clock
    yield pool
    await pool.close()


def link_token(message: dict) -> str:
    match = re.search(r"/password/set/([\w-]+)", message["body_text"])
    assert match, message["body_text"]
    assert f"/password/set/{match.group(1)}" in message["body_html"]
    return match.group(1)


async def choose(client, token: str, password: str, confirm: str | None = None):
    return await client.post(
        f"/password/set/{token}",
        data={
            "_csrf_token": client.cookies.get("lp_csrf"),
            "password": password,
            "confirm": password if confirm is None else confirm,
        },
        headers={"accept": "text/html"},
        follow_redirects=False,
    )


async def test_admin_creates_account_and_the_link_sets_the_password(web):
    admin = await web.new("admin@example.com")
    body = {"email": "New.Person@Example.com", "name": "Nia", "roles": ["employee"]}
    response = await admin.post("/api/users", json={**body, "department": "ops"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["email"] == "new.person@example.com"
    assert created["department"] == "ops"
    assert created["password_set"] is False
    assert "password" not in response.text.replace("password_set", "")
    # no password yet: nobody can log in with anything
    assert await authenticate("new.person@example.com", "") is None

    message = await Message.select().where(Message.kind == "password_set").first()
    assert message["recipient"] == "new.person@example.com"
    assert message["status"] == "queued"
    assert "http://testserver.local/password/set/" in message["body_text"]
    token = link_token(message)

    browser = await web.new()
    page = await browser.get(f"/password/set/{token}")
    assert page.status_code == 200
    assert 'name="referrer" content="no-referrer"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    response = await choose(browser, token, NEW_PASSWORD, "something else")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")  # a page, not its source
    assert "differ" in response.text
    response = await choose(browser, token, "short")
    assert response.status_code == 422
    assert "at least 8" in response.text
    response = await choose(browser, token, NEW_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert await authenticate("new.person@example.com", NEW_PASSWORD) is not None

    # single use: the page and the form both refuse it now
    assert (await browser.get(f"/password/set/{token}")).status_code == 410
    response = await choose(browser, token, "another passphrase")
    assert response.status_code == 410
    assert await authenticate("new.person@example.com", "another passphrase") is None


async def test_user_api_refusals(web):
    admin = await web.new("admin@example.com")
    response = await admin.post(
        "/api/users", json={"email": "x@example.com", "name": "X", "roles": ["employee"]}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "department"
    response = await admin.post(
        "/api/users", json={"email": "admin@example.com", "name": "X", "roles": ["admin"]}
    )
    assert response.status_code == 409
    response = await admin.post(
        "/api/users", json={"email": "x@example.com", "name": "X", "roles": ["wizard"]}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "roles"
    assert await Message.count() == 0
    await create_user(
        email="emp@example.com",
        name="E",
        roles=["employee"],
        department_key="ops",
        password=PASSWORD,
    )
    employee = await web.new("emp@example.com")
    response = await employee.post(
        "/api/users", json={"email": "y@example.com", "name": "Y", "roles": ["admin"]}
    )
    assert response.status_code == 403
    assert not await User.exists().where(User.email == "y@example.com")


async def test_links_expire_after_48_hours(web):
    clock = web.clock
    admin = await web.new("admin@example.com")
    body = {"email": "late@example.com", "name": "L", "roles": ["executive"]}
    assert (await admin.post("/api/users", json=body)).status_code == 201
    token = link_token(await Message.select().first())
    clock.advance(hours=47, minutes=59)
    assert await check_link(token, clock=clock) == "set"
    clock.advance(minutes=1)
    with pytest.raises(Gone):
        await check_link(token, clock=clock)
    browser = await web.new()
    page = await browser.get(f"/password/set/{token}")
    assert page.status_code == 410
    assert "/password/forgot" in page.text
    assert (await choose(browser, token, NEW_PASSWORD)).status_code == 410
    with pytest.raises(Gone):
        await set_password(token, NEW_PASSWORD, clock=clock)
    assert (await browser.get("/password/set/not-a-token")).status_code == 410


async def test_forgot_password_answers_the_same_and_mails_only_real_accounts(web):
    clock = web.clock
    browser = await web.new()
    await browser.get("/password/forgot")

    async def ask(email: str):
        return await browser.post(
            "/password/forgot",
            data={"_csrf_token": browser.cookies.get("lp_csrf"), "email": email},
        )

    known = await ask("ADMIN@example.com")
    unknown = await ask("nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("ADMIN@example.com", "") == unknown.text.replace(
        "nobody@example.com", ""
    )
    # The delivery worker issues the link of a real account; nothing for the other.
    assert await process_reset_requests(base_url=BASE, clock=clock) == 1
    messages = await Message.select()
    assert [(m["kind"], m["recipient"]) for m in messages] == [
        ("password_reset", "admin@example.com")
    ]
    # asking again at once queues nothing more (no inbox flooding), later it does
    await ask("admin@example.com")
    assert await process_reset_requests(base_url=BASE, clock=clock) == 0
    assert await Message.count() == 1
    clock.advance(minutes=6)
    await ask("admin@example.com")
    assert await process_reset_requests(base_url=BASE, clock=clock) == 1
    assert await Message.count() == 2

    token = link_token(messages[0])
    assert "ignore this email" in messages[0]["body_text"]
    assert (await choose(browser, token, NEW_PASSWORD)).status_code == 303
    assert await authenticate("admin@example.com", NEW_PASSWORD) is not None
    assert await authenticate("admin@example.com", PASSWORD) is None
    assert (await choose(browser, token, "yet another one")).status_code == 410


async def test_concurrent_use_of_one_link_counts_once(web):
    clock = web.clock
    assert await request_reset("admin@example.com", clock=clock)
    assert await process_reset_requests(base_url="http://x", clock=clock) == 1
    token = link_token(await Message.select().first())
    results = await asyncio.gather(
        *[set_password(token, f"password number {n}", clock=clock) for n in range(5)],
        return_exceptions=True,
    )
    successes = [r for r in results if not isinstance(r, BaseException)]
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(successes) == 1
    assert all(isinstance(f, Gone | Invalid) for f in failures)
    winner = next(n for n, r in enumerate(results) if not isinstance(r, BaseException))
    assert await authenticate("admin@example.com", f"password number {winner}") is not None
