"""A German customer opts back in through their emailed link, in a real browser on a phone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from customer_language_data import load_demo
from test_browser_customer_language import _assert_german

from surveys.opt_in import KIND, send_opt_in_link
from surveys.tables import Customer, Message

pytestmark = pytest.mark.browser


async def test_a_german_customer_opts_back_in_on_a_phone(server, browser, settings):
    await load_demo()
    now = datetime.now(UTC)
    await Customer(
        external_id="k-7", email="klara@example.de", locale="de", opted_out_at=now, created_at=now
    ).save()
    await send_opt_in_link(
        "k-7", actor="admin@example.com", secret_key=settings.secret_key, base_url=server
    )
    (message,) = await Message.select(Message.body_text).where(Message.kind == KIND)
    link = re.search(rf"{re.escape(server)}/opt-in/\S+", message["body_text"])[0]
    context = await browser.new_context(
        java_script_enabled=False, viewport={"width": 390, "height": 844}, locale="en-US"
    )
    page = await context.new_page()

    await page.goto(link)
    await _assert_german(page)
    assert await page.locator("h1").inner_text() == "Wieder Umfragen erhalten?"
    await page.get_by_role("button", name="Wieder Umfragen erhalten").click()
    await _assert_german(page)
    assert await page.locator("h1").inner_text() == "Sie erhalten wieder Umfragen"
    row = await Customer.select(Customer.opted_out_at).where(Customer.external_id == "k-7")
    assert row[0]["opted_out_at"] is None

    answer = await page.goto(link)
    assert answer.status == 410
    await _assert_german(page)
    assert await page.locator("h1").inner_text() == "Sie erhalten bereits wieder Umfragen"
    await context.close()
