"""An employee logs in and rates two steps in a real browser: phone-sized, JavaScript off,
the second step by keyboard only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import PASSWORD
from rating_org import load_org, make_employee

from surveys.rounds import create_round
from surveys.self_ratings import my_ratings
from surveys.tables import SelfRating

pytestmark = pytest.mark.browser


async def test_employee_logs_in_and_rates_two_steps(server, browser, db, tmp_root):
    await load_org()
    employee = await make_employee(1, "ops")
    now = datetime.now(UTC)
    await create_round(
        name="Winter round",
        starts_at=(now - timedelta(hours=1)).isoformat(),
        ends_at=(now + timedelta(days=7)).isoformat(),
        departments=["ops"],
        base_url=server,
    )
    context = await browser.new_context(
        java_script_enabled=False, viewport={"width": 360, "height": 740}
    )
    page = await context.new_page()

    # The emailed link leads to the login form, then back to /rate.
    await page.goto(f"{server}/rate")
    assert "/login" in page.url
    await page.fill("#email", employee.email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    assert page.url.endswith("/rate")
    assert await page.locator("h1").inner_text() == "Rate my steps"
    assert await page.locator("section.step").count() == 2  # pack and ship, not sales' quote
    assert (
        "How satisfied are you with the packaging?" in await page.locator("#step-pack").inner_text()
    )

    # Phone layout: nothing wider than the screen, every scale target at least 44 px.
    assert (await page.locator("body").bounding_box())["width"] <= 360
    for label in await page.locator(".scale label").all():
        box = await label.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360

    # The end labels are there for screen readers, not drawn inside the buttons.
    hidden_label = page.locator("label[for=pack-csat-1] .sr-only")
    assert (await hidden_label.inner_text()).strip() == "(Very dissatisfied)"
    assert (await hidden_label.bounding_box())["width"] <= 1

    # Step one, by pointer: packaging 4, with a comment.
    await page.locator("label[for=pack-csat-4]").click()
    await page.fill("#comment-pack", "Boxes are too big for small items")
    await page.locator("#step-pack form[action='/rate'] button[type=submit]").click()
    assert "saved=pack" in page.url
    assert "your rating was saved" in await page.locator("#notice").inner_text()
    assert await page.locator("#pack-csat-4").is_checked()

    # Step two, by keyboard only: focus the first level of the effort scale, move with arrows.
    await page.locator("#ship-ease-1").focus()
    for _ in range(5):
        await page.keyboard.press("ArrowRight")  # 1 -> 6
    assert await page.locator("#ship-ease-6").is_checked()
    await page.keyboard.press("Tab")  # into the NPS scale
    assert await page.locator("#ship-nps-0").evaluate("e => e === document.activeElement")
    await page.keyboard.press("Space")
    for _ in range(9):
        await page.keyboard.press("ArrowRight")  # 0 -> 9
    await page.keyboard.press("Tab")  # the comment
    await page.keyboard.type("Couriers are late on Fridays")
    await page.keyboard.press("Tab")  # the save button
    focused = await page.evaluate("document.activeElement.textContent")
    assert focused == "Save my rating of “Your order arrives”"
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert "saved=ship" in page.url
    assert await page.locator("#rated-ship").count() == 1
    assert await page.locator("#ship-nps-9").is_checked()
    await page.screenshot(path=str(tmp_root / "rate-two-steps.png"), full_page=True)

    # Both ratings are stored, once each, for this employee and round.
    assert await SelfRating.count() == 2
    mine = {m.step: m for m in await my_ratings(employee.id)}
    assert mine["pack"].answers == {"csat": 4}
    assert mine["pack"].comment == "Boxes are too big for small items"
    assert mine["ship"].answers == {"ease": 6, "nps": 9}
    assert mine["ship"].comment == "Couriers are late on Fridays"
    await context.close()
