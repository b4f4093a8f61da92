"""The Messages section in a real browser: an accent colour too light for white is refused
beside its field, a good one colours the customer's survey page (through /organisation.css,
under the strict CSP), and one survey's email is rewritten with its preview; each page on a
phone and a laptop screen, error paths included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import PASSWORD
from survey_data import make_invitation
from test_browser_admin_sections import WIDER_THAN_THE_WINDOW
from trigger_org import load_org

from surveys.accounts import create_user

pytestmark = pytest.mark.browser
WIDTHS = ((390, 844), (1366, 900))


async def snap(page, tmp_root, name: str) -> None:
    """A screenshot at each width, and nothing wider than the window."""
    for width, height in WIDTHS:
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(tmp_root / f"{name}-{width}.png"), full_page=True)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (name, width, await page.evaluate(WIDER_THAN_THE_WINDOW))


async def test_colours_and_a_surveys_email_from_the_console(
    server, browser, db, tmp_root, settings
):
    await load_org()
    await create_user(email="ada@example.com", name="Ada", roles=["admin"], password=PASSWORD)
    later = datetime(2100, 1, 1, tzinfo=UTC)
    token, _ = await make_invitation(settings.secret_key, expires_at=later)
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    await page.goto(f"{server}/admin")
    await page.fill("#email", "ada@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    assert "Messages" in await page.inner_text("dl.overview")
    await snap(page, tmp_root, "admin-overview")

    await page.goto(f"{server}/admin/messages")
    await page.fill("#name", "Acme")
    await page.fill("#accent_colour", "#ffcc00")
    await page.click("#organisation button[type=submit]")
    error = await page.inner_text("#accent_colour-error")
    assert "contrast of only 1.5:1" in error and "4.5:1 (WCAG AA)" in error
    assert await page.input_value("#accent_colour") == "#ffcc00"
    await snap(page, tmp_root, "admin-messages-colour-refused")
    await page.fill("#accent_colour", "#7b2d8e")
    await page.click("#organisation button[type=submit]")
    assert "Saved" in await page.inner_text("#notice")
    # The admin's next page wears the new colour at once (no stale stylesheet in the cache).
    saved = await page.evaluate(
        "getComputedStyle(document.querySelector('#organisation button')).backgroundColor"
    )
    assert saved == "rgb(123, 45, 142)"

    # One survey's email in German: refused with a stray %, then saved and previewed.
    await page.fill("#locale", "de")
    await page.select_option("#survey", "ticket-resolved")
    await page.click("button:has-text('Show')")
    await page.fill("#survey_subject", "100% %(step)s")
    await page.click("#survey-email button[type=submit]")
    assert "Write % as %%" in await page.inner_text("#survey_subject-error")
    await snap(page, tmp_root, "admin-messages-survey-refused")
    await page.fill("#survey_subject", "Kurz gefragt: %(step)s")
    await page.click("#survey-email button[type=submit]")
    assert await page.inner_text("#preview-subject") == "Kurz gefragt: Your request is resolved"
    await snap(page, tmp_root, "admin-messages-survey")

    # The customer's page wears the colour: the send button, the links.
    customer = await browser.new_context(viewport={"width": 390, "height": 844})
    survey = await customer.new_page()
    answer = await survey.goto(f"{server}/s/{token}")
    assert answer.status == 200
    colour = await survey.evaluate(
        "getComputedStyle(document.querySelector('main button[type=submit]')).backgroundColor"
    )
    assert colour == "rgb(123, 45, 142)"
    await snap(survey, tmp_root, "survey-coloured")
    await customer.close()
    await context.close()
