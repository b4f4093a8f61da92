"""Smaller doors: ingest keys send events only; "forgot password" does the same work whether
or not the account exists, and is limited per address."""

from __future__ import annotations

import re

import httpx
import pytest
from conftest import PASSWORD, all_tables
from rating_org import Clock, make_app

from listening.apikeys import create_key
from surveys.accounts import create_user
from surveys.password_links import RESETS_PER_ADDRESS, process_reset_requests
from surveys.tables import Message, PasswordResetRequest

BASE = "http://testserver.local"


async def test_an_ingest_key_cannot_add_suppressions(client, ingest_key, suppress_key, admin_key):
    body = {"email": "bounce@example.com", "reason": "bounce"}

    def bearer(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    refused = await client.post("/api/suppressions", json=body, headers=bearer(ingest_key))
    assert refused.status_code == 403
    assert "suppress" in refused.json()["detail"]
    assert (await client.post("/api/suppressions", json=body)).status_code == 401
    for key in (suppress_key, admin_key):
        accepted = await client.post("/api/suppressions", json=body, headers=bearer(key))
        assert accepted.status_code == 201, accepted.text


async def test_a_key_of_an_unknown_scope_is_refused(db):
    from surveys.errors import Invalid

    with pytest.raises(Invalid):
        await create_key("x", "everything")


async def _row_counts() -> dict[str, int]:
    counts = {}
    for table in all_tables():
        name = table._meta.tablename
        (row,) = await table.raw(f'SELECT COUNT(*) AS n FROM "{name}"')
        counts[name] = row["n"]
    return counts


@pytest.fixture
async def web(settings, db):
    await create_user(email="ada@example.com", name="Ada", roles=["admin"], password=PASSWORD)
    clock = Clock()
    app = make_app(settings, clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        c.clock = clock
        yield c


async def _forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await client.get("/password/forgot")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    return await client.post("/password/forgot", data={"email": email, "_csrf_token": token})


async def test_forgot_password_does_the_same_work_for_known_and_unknown_addresses(web):
    before = await _row_counts()
    known = await _forgot(web, "ada@example.com")
    after_known = await _row_counts()
    unknown = await _forgot(web, "nobody@example.com")
    after_unknown = await _row_counts()
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    # Each request wrote exactly one row, to the same table: nothing issued, nothing queued.
    grew_known = {t: after_known[t] - before[t] for t in before if after_known[t] != before[t]}
    grew_unknown = {
        t: after_unknown[t] - after_known[t] for t in before if after_unknown[t] != after_known[t]
    }
    assert grew_known == grew_unknown == {"password_reset_request": 1}
    assert await Message.count() == 0
    # The worker's pass issues the one real link and forgets both addresses.
    assert await process_reset_requests(base_url=BASE, clock=web.clock) == 1
    assert [m["recipient"] for m in await Message.select()] == ["ada@example.com"]
    assert {r["email"] for r in await PasswordResetRequest.select()} == {""}


async def test_forgot_password_is_limited_per_address(web):
    for _ in range(RESETS_PER_ADDRESS + 3):
        assert (await _forgot(web, " Ada@Example.com")).status_code == 200
    assert await PasswordResetRequest.count() == RESETS_PER_ADDRESS
    # Another address is not held back; an hour later the first may ask again.
    await _forgot(web, "someone@example.com")
    assert await PasswordResetRequest.count() == RESETS_PER_ADDRESS + 1
    web.clock.advance(hours=1, seconds=1)
    await _forgot(web, "ada@example.com")
    assert await PasswordResetRequest.count() == RESETS_PER_ADDRESS + 2
    # However many requests, one reset email per account in the cooldown.
    assert await process_reset_requests(base_url=BASE, clock=web.clock) == 1


async def test_forgot_password_is_limited_per_client_address(settings, db):
    import dataclasses

    limited = dataclasses.replace(settings, public_rate_limit=2)
    app = make_app(limited, Clock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        codes = [(await _forgot(c, f"person{n}@example.com")).status_code for n in range(3)]
    assert codes == [200, 200, 429]
