"""The console's operations sections in a real browser with JavaScript off: an admin finds an
invitation in the outbox, reads its story and cancels it; then each section's pages are looked at
on a phone and on a laptop screen (nothing wider than the window)."""

from __future__ import annotations

import httpx
import pytest
from conftest import PASSWORD
from trigger_org import event_json, load_org

from listening.apikeys import create_key
from surveys.accounts import create_user
from surveys.responses import submit_response
from surveys.tables import Invitation
from surveys.tokens import invitation_token

pytestmark = pytest.mark.browser

WIDER_THAN_THE_WINDOW = """
[...document.querySelectorAll('main *')]
  .filter(e => e.getBoundingClientRect().right > innerWidth + 1)
  .slice(0, 5)
  .map(e => `${e.tagName}.${e.className}#${e.id}`)
"""
DELAYED = """
[[triggers]]
key = "ticket-later"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "email"
delay = "1h"
"""


async def look_at(page, server: str, paths: list[str], tmp_root) -> None:
    """Each page on a phone and a laptop: 200, a screenshot, nothing wider than the window."""
    for width, height in ((390, 844), (1366, 900)):
        await page.set_viewport_size({"width": width, "height": height})
        for path in paths:
            response = await page.goto(f"{server}{path}")
            assert response.status == 200, path
            name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-")
            await page.screenshot(path=str(tmp_root / f"{name}-{width}.png"), full_page=True)
            wide = await page.evaluate(WIDER_THAN_THE_WINDOW)
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (path, width, overflow, wide)


async def test_admin_cancels_an_invitation_from_the_outbox(server, browser, db, tmp_root, settings):
    await load_org(DELAYED)
    await create_user(email="ada@example.com", name="Ada", roles=["admin"], password=PASSWORD)
    _, key = await create_key("source", "ingest")
    async with httpx.AsyncClient(base_url=server) as source:
        for n in (1, 2):
            body = event_json(n, customer={"id": f"c{n}", "email": f"c{n}@example.com"})
            sent = await source.post(
                "/api/events", json=body, headers={"authorization": f"Bearer {key}"}
            )
            assert sent.status_code == 202, sent.text
    uid = (await Invitation.select(Invitation.uid).where(Invitation.customer.external_id == "c1"))[
        0
    ]["uid"]
    # Customer c3 answers badly: a follow-up for the board.
    async with httpx.AsyncClient(base_url=server) as source:
        body = event_json(3, customer={"id": "c3", "email": "c3@example.com"})
        await source.post("/api/events", json=body, headers={"authorization": f"Bearer {key}"})
    third = (
        await Invitation.select(Invitation.uid).where(Invitation.customer.external_id == "c3")
    )[0]["uid"]
    await submit_response(
        invitation_token(settings.secret_key, third), {"csat": 1, "comment": "Nobody called back"}
    )
    context = await browser.new_context(
        java_script_enabled=False, viewport={"width": 1366, "height": 900}
    )
    page = await context.new_page()
    await page.goto(f"{server}/admin/outbox")
    await page.fill("#email", "ada@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    assert page.url.endswith("/admin/outbox")

    await page.select_option("#status", "scheduled")
    await page.fill("#since", "1900-01-01")
    await page.click("text=Filter")
    assert "(since) must lie between 1970 and 2100" in await page.inner_text("#since-error")
    await page.fill("#since", "")
    await page.click("text=Filter")
    await page.click(f"a[href='/admin/outbox/{uid}']")
    assert "Event e1 of type ticket.closed" in await page.inner_text("main")
    await page.click("text=Cancel this invitation")
    assert f"Invitation {uid} was cancelled." in await page.inner_text("#notice")
    row = await Invitation.select().where(Invitation.uid == uid).first()
    assert row["status"] == "cancelled"

    # The privacy desk: find the other customer, refuse an unconfirmed erasure, then erase.
    await page.goto(f"{server}/admin/privacy")
    await page.fill("#q", "c2@example.com")
    await page.click("text=Find")
    assert "Customer c2" in await page.inner_text("#found-heading")
    await page.screenshot(path=str(tmp_root / "admin-privacy-found.png"), full_page=True)
    await page.fill("#confirm", "c")
    await page.click("button.danger")
    assert "Type the customer's id exactly" in await page.inner_text("#confirm-error")
    await page.fill("#confirm", "c2")
    await page.click("button.danger")
    assert "personal data is erased" in await page.inner_text("#notice")

    # People: an employees CSV previewed with a refused row, then a key shown once.
    await page.goto(f"{server}/admin/people")
    await page.fill("#csv", "email,name,department\nann@corp.example,Ann,support\nbad,Bo,support\n")
    await page.click('button:has-text("Preview")')
    assert "not an email address" in await page.inner_text("#preview")
    await page.screenshot(path=str(tmp_root / "admin-people-preview.png"), full_page=True)
    await page.fill("#key_name", "crm")
    await page.click('button:has-text("Create a key")')
    assert "shown only this once" in await page.inner_text("#new-key")

    # Rounds: open one for support with the date pickers' defaults.
    await page.goto(f"{server}/admin/rounds")
    await page.fill("#name", "Spring")
    await page.fill("#starts_at", "2020-01-01T09:00")
    await page.check("input[name=departments][value=support]")
    await page.click('button:has-text("Open the round")')
    assert "The round is open." in await page.inner_text("#notice")

    await page.goto(f"{server}/admin/follow-ups")
    assert "Nobody called back" in await page.inner_text("#col-open + article, .board")
    await page.click('button:has-text("Save")')  # status "closed" not chosen: stays open
    await page.select_option("select[name=status]", "closed")
    await page.click('button:has-text("Save")')
    assert "say what was done before closing" in await page.inner_text("main")

    paths = [
        "/admin/outbox",
        f"/admin/outbox/{uid}",
        "/admin/privacy?q=c1",
        "/admin/people",
        "/admin/rounds",
        "/admin/follow-ups",
        "/admin/report",
        "/admin/messages",
    ]
    await look_at(page, server, paths, tmp_root)
    await context.close()
