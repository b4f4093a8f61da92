"""The dashboards on a phone and a laptop, in real chromium: nothing scrolls sideways and no
chart's title, legend or axis labels are clipped or overlap; people get pages, not JSON."""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from dashboard_data import TODAY, scenario
from layout_probe import PROBE

from listening.demo.build import DEMO_PASSWORD, JOURNEY_FILE, LOGINS
from listening.demo.simulate import simulate
from listening.ingest.ingestor import close_ingestors
from listening.journeys import load_journey_file
from surveys.accounts import create_user

pytestmark = pytest.mark.browser

SIZES = ((390, 844), (1366, 900))


async def _demo(settings) -> None:
    await load_journey_file(JOURNEY_FILE)
    users = {}
    for role, (email, name, roles, department) in LOGINS.items():
        users[role] = await create_user(
            email=email, name=name, roles=roles, password=DEMO_PASSWORD, department_key=department
        )
    try:
        await simulate(
            seed=7,
            size="small",
            secret_key=settings.secret_key,
            base_url="http://127.0.0.1:8000",
            password=DEMO_PASSWORD,
            admin_id=users["admin"].id,
            months=4,
        )
    finally:
        await close_ingestors()


async def _log_in(page, server: str, email: str, password: str) -> None:
    await page.goto(f"{server}/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("button[type=submit]")


async def test_every_dashboard_page_of_the_demo_fits_a_phone_and_a_laptop(
    server, browser, db, settings
):
    await _demo(settings)
    errors: list[str] = []
    for width, height in SIZES:
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        await _log_in(page, server, LOGINS["executive"][0], DEMO_PASSWORD)
        await page.wait_for_url("**/dashboards")
        links = await page.eval_on_selector_all(
            "nav.departments a", "links => links.map(a => a.getAttribute('href'))"
        )
        assert len(links) == 6  # the overview and five departments
        for link in [*links, links[1] + "&compare=previous"]:
            await page.goto(server + link)
            await page.wait_for_load_state("networkidle")
            drawn = await page.locator(".chart[data-drawn]").count()
            assert drawn == await page.locator(".chart").count() and drawn > 0, link
            assert await page.locator("#where-to-act").count() == 1, link
            problems = await page.evaluate(PROBE)
            assert problems == [], (width, link, problems)
            if width < 700:
                # The tool bar never sits over a chart on a phone; wide tables are cards.
                assert await page.locator(".modebar").count() == 0, link
                table = page.locator("table.cards").first
                assert await table.evaluate("t => getComputedStyle(t).display") == "block"
        await context.close()
    assert errors == [], errors


async def test_people_get_pages_with_the_message_on_a_phone(server, browser, db):
    await scenario()
    await create_user(email="admin@example.com", name="Ada", roles=["admin"], password=PASSWORD)
    await create_user(
        email="emp@example.com",
        name="Emp",
        roles=["employee"],
        password=PASSWORD,
        department_key="shop",
    )
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()

    # A wrong password: the login page again, with the message, not its source as JSON.
    await page.goto(f"{server}/login")
    await page.fill("#email", "admin@example.com")
    await page.fill("#password", "not the password")
    async with page.expect_response(lambda r: r.url.endswith("/login")) as answer:
        await page.click("button[type=submit]")
    response = await answer.value
    assert response.status == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "Wrong email or password." in await page.locator("#login-error").inner_text()
    assert await page.locator("#email").input_value() == "admin@example.com"

    # A round form with mistakes: the form again, each message beside its field, values kept.
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.goto(f"{server}/rounds")
    assert await page.locator("#starts_at").get_attribute("type") == "datetime-local"
    await page.fill("#name", "Spring round")
    await page.fill("#starts_at", "2030-03-10T09:00")
    await page.fill("#ends_at", "2030-03-01T17:00")
    async with page.expect_response(lambda r: r.url.endswith("/rounds")) as answer:
        await page.click("text=Open the round")
    response = await answer.value
    assert response.headers["content-type"].startswith("text/html")
    assert await page.locator("#departments-error").inner_text() == (
        "Choose at least one department."
    )
    assert await page.locator("#name").input_value() == "Spring round"
    assert await page.locator("#ends_at").input_value() == "2030-03-01T17:00"
    await page.check("input[name=departments][value=shop]")
    await page.click("text=Open the round")
    error = await page.locator("#ends_at-error").inner_text()
    assert "The round must end after it starts." in error
    assert await page.evaluate(PROBE) == []

    # A filter mistake: the filters again with the message and a way back.
    await page.goto(f"{server}/dashboards?from=2026-12-01&to=2026-01-01")
    assert "from must not be after to" in await page.locator("#f-from-error").inner_text()
    await page.click("#filter-reset")
    await page.wait_for_selector("#headline")
    assert "from=" not in page.url
    await context.close()

    # An employee opens their department's page, read-only, and gets 403 on another's.
    employee = await browser.new_context(viewport={"width": 390, "height": 844})
    mine = await employee.new_page()
    await _log_in(mine, server, "emp@example.com", PASSWORD)
    await mine.goto(f"{server}/dashboards?from=2026-10-01&to={TODAY.isoformat()}")
    assert "/dashboards/shop" in mine.url
    assert await mine.locator("#read-only-note").count() == 1
    assert await mine.locator("nav.departments").count() == 0
    other = await mine.goto(f"{server}/dashboards/logistics")
    assert other is not None and other.status == 403
    assert "own department" in await mine.locator("main").inner_text()
    await employee.close()
