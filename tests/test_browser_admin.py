"""An admin builds a step and its survey in the console, previews it, adds a trigger and dry-runs
an event against it, in a real browser with JavaScript off; then every console page is looked
at on a phone and on a laptop screen (nothing wider than the window)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import PASSWORD
from trigger_org import load_org

from listening.tables import Event
from surveys import catalog
from surveys.accounts import create_user
from surveys.tables import Customer

pytestmark = pytest.mark.browser

# The elements of the page that reach past the window's right edge, to say what overflows.
WIDER_THAN_THE_WINDOW = """
[...document.querySelectorAll('main *')]
  .filter(e => e.getBoundingClientRect().right > innerWidth + 1)
  .slice(0, 5)
  .map(e => `${e.tagName}.${e.className}#${e.id}`)
"""

PAGES = [
    "/admin",
    "/admin/journey",
    "/admin/journey/steps/pay",
    "/admin/surveys",
    "/admin/surveys/pay",
    "/admin/triggers",
    "/admin/triggers/pay-link",
    "/admin/configuration",
    "/admin/audit",
]


async def test_admin_builds_a_step_survey_and_trigger_then_dry_runs(server, browser, db, tmp_root):
    await load_org(triggers="")
    await create_user(email="ada@example.com", name="Ada", roles=["admin"], password=PASSWORD)
    context = await browser.new_context(
        java_script_enabled=False, viewport={"width": 1366, "height": 900}
    )
    page = await context.new_page()

    await page.goto(f"{server}/admin/journey")
    assert "/login" in page.url
    await page.fill("#email", "ada@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    assert page.url.endswith("/admin/journey")

    # A new step, owned by support, a moment of truth.
    await page.fill("#step-key", "pay")
    await page.fill("#step-name", "You pay")
    await page.select_option("#step-journey", "get-help")
    await page.select_option("#step-department", "support")
    await page.check("input[name=moment_of_truth]")
    await page.click("form[action='/admin/journey/steps#new-step'] button[type=submit]")
    assert "/admin/surveys/pay" in page.url
    assert "Give it a survey" in await page.locator("#notice").inner_text()

    # Its survey: one rating question, the customer's words beside the employee's.
    await page.fill("#q0-key", "csat")
    await page.select_option("#q0-kind", "csat")
    await page.fill("#q0-text-0", "How easy was paying?")
    await page.fill("#q0-employee", "How easy do customers find paying?")
    await page.click("button[name=do][value=preview]")
    customer = page.locator(".customer-preview")
    employee = page.locator(".employee-preview")
    assert "How easy was paying?" in await customer.inner_text()
    assert "How easy do customers find paying?" in await employee.inner_text()
    assert await customer.locator("input[type=radio]").count() == 5
    assert await page.locator("#q0-employee").input_value() == "How easy do customers find paying?"
    await page.click("button[name=do][value=save]")
    assert "Saved as version 1" in await page.locator("#notice").inner_text()
    survey = await catalog.get_survey("pay")
    assert [q.employee for q in survey.questions] == ["How easy do customers find paying?"]

    # A trigger for it, then a dry run of an event of its type.
    await page.goto(f"{server}/admin/triggers")
    await page.fill("#key", "pay-link")
    await page.fill("#event_type", "payment.done")
    await page.select_option("#step", "pay")
    await page.click("form[action='/admin/triggers#new'] button[type=submit]")
    assert "Trigger pay-link was saved" in await page.locator("#notice").inner_text()
    now = datetime.now(UTC)
    event = {
        "id": "pay-77",
        "type": "payment.done",
        "occurred_at": (now - timedelta(minutes=1)).isoformat(),
        "customer": {"id": "cust-77"},
    }
    await page.fill("#event", json.dumps(event))
    await page.click("form[action^='/admin/triggers/dry-run'] button[type=submit]")
    result = page.locator(".dry-run-result")
    text = await result.inner_text()
    assert "an invitation would be scheduled" in text
    assert "pay-link → pay (link): scheduled" in text
    assert "sampling" in text and "contact frequency" in text and "Send at" in text
    assert await Customer.count() == 0 and await Event.count() == 0  # nothing stored
    await result.screenshot(path=str(tmp_root / "admin-dry-run-result.png"))

    # Every page, phone and laptop: nothing wider than the window.
    for width, height in ((390, 844), (1366, 900)):
        await page.set_viewport_size({"width": width, "height": height})
        for path in PAGES:
            response = await page.goto(f"{server}{path}")
            assert response.status == 200, path
            name = path.strip("/").replace("/", "-")
            await page.screenshot(path=str(tmp_root / f"{name}-{width}.png"), full_page=True)
            wide = await page.evaluate(WIDER_THAN_THE_WINDOW)
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (path, width, overflow, wide)
    await context.close()
