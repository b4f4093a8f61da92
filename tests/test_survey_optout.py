"""Opting out from an invitation link: a page with one button and the RFC 8058 one-click POST."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from conftest import app_with
from survey_data import NOW, fixed_clock, load_org, make_invitation

from surveys.tables import Customer


@pytest.fixture
async def web(settings, db):
    await load_org()
    app = app_with(settings, fixed_clock())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver.local",
        headers={"accept": "text/html"},
    ) as c:
        yield c


async def opted_out_at(external_id: str):
    row = await Customer.select(Customer.opted_out_at).where(Customer.external_id == external_id)
    return row[0]["opted_out_at"]


async def test_page_has_one_button_and_stores_nothing_on_get(web, settings):
    token, _ = await make_invitation(settings.secret_key)
    page = await web.get(f"/s/{token}/unsubscribe")
    assert page.status_code == 200
    assert page.text.count("<button") == 1
    assert await opted_out_at("cust-1") is None


async def test_one_click_post_opts_out_without_cookies(web, settings):
    token, _ = await make_invitation(settings.secret_key)
    # What a mail provider sends (RFC 8058): no cookie, no CSRF token; the token protects it.
    done = await web.post(
        f"/s/{token}/unsubscribe",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200
    assert "will not receive more surveys" in done.text
    assert await opted_out_at("cust-1") == NOW
    # Repeating keeps the first time.
    await web.post(f"/s/{token}/unsubscribe", data={"List-Unsubscribe": "One-Click"})
    assert await opted_out_at("cust-1") == NOW
    again = await web.get(f"/s/{token}/unsubscribe")
    assert "will not receive more surveys" in again.text


async def test_works_from_an_expired_or_answered_invitation(web, settings):
    token, _ = await make_invitation(
        settings.secret_key, customer="old", expires_at=NOW - timedelta(days=30)
    )
    done = await web.post(f"/s/{token}/unsubscribe", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert await opted_out_at("old") == NOW


async def test_unknown_token_is_404(web):
    missing = await web.post("/s/" + "C" * 43 + "/unsubscribe", data={})
    assert missing.status_code == 404
    assert (await web.get("/s/" + "C" * 43 + "/unsubscribe")).status_code == 404


async def test_opting_out_stops_the_next_trigger(client, ingest_key, db):
    from trigger_org import TRIGGERS, event_json
    from trigger_org import load_org as load_trigger_org

    # No contact-frequency rule here, so only the opt-out can hold the second event back.
    await load_trigger_org(TRIGGERS + 'quarantine = "0s"\n')
    auth = {"Authorization": f"Bearer {ingest_key}"}
    first = await client.post("/api/events", json=event_json(1), headers=auth)
    assert first.status_code == 202, first.text
    assert first.json()["invitations"][0]["status"] == "scheduled"
    url = first.json()["invitations"][0]["survey_url"]
    token = url.rsplit("/s/", 1)[1]
    control = await client.post(
        "/api/events", json=event_json(2, customer={"id": "c1"}), headers=auth
    )
    assert control.json()["invitations"][0]["status"] == "scheduled"
    done = await client.post(
        f"/s/{token}/unsubscribe",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200
    second = await client.post(
        "/api/events", json=event_json(3, customer={"id": "c1"}), headers=auth
    )
    assert second.status_code == 202
    assert second.json()["invitations"][0]["status"] == "opted_out"
