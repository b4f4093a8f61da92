"""A German customer's pages in a real browser, and the NPS scale on one row on a 320 px phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from customer_language_data import english_in, load_demo
from survey_data import NOW, make_invitation

from surveys.tables import FollowUp

pytestmark = pytest.mark.browser


async def _text(page) -> str:
    """What a person reads or hears: the title, the page's text and the images' alt texts."""
    alts = await page.locator("img").evaluate_all("imgs => imgs.map(i => i.alt).join(' ')")
    return " ".join([await page.title(), await page.locator("body").inner_text(), alts])


async def _assert_german(page) -> None:
    assert await page.locator("html").get_attribute("lang") == "de"
    assert await page.locator("header.organisation").inner_text() == "Example Shop"
    text = await _text(page)
    assert english_in(text) == set(), text


async def test_a_german_invitation_in_the_browser_has_no_english_words(server, browser, settings):
    await load_demo()
    expires = datetime.now(UTC) + timedelta(days=7)
    token, _ = await make_invitation(
        settings.secret_key, step_key="order-delivered", locale="de-CH", expires_at=expires
    )
    context = await browser.new_context(
        java_script_enabled=False,
        viewport={"width": 390, "height": 844},
        locale="en-US",  # the browser's language must not matter
    )
    page = await context.new_page()

    await page.goto(f"{server}/s/{token}?answer=1")
    await _assert_german(page)
    assert await page.locator("h1").inner_text() == "Ihre Bestellung kommt an"
    assert "noch nicht gesendet" in await page.locator("p.notice").inner_text()
    assert await page.locator("#q-csat-1").is_checked()

    # Sent without the required answer: the German error beside the question.
    await page.locator("#q-csat-1").evaluate("e => { e.checked = false }")
    await page.get_by_role("button", name="Senden").click()
    await _assert_german(page)
    assert "Bitte beantworten Sie diese Frage." in await page.locator("#q-csat-error").inner_text()

    await page.locator("label[for=q-csat-1]").click()
    await page.get_by_label("Sie kam zu spät").check()
    await page.get_by_role("button", name="Senden").click()
    await page.wait_for_url(f"{server}/s/{token}/thanks")
    await _assert_german(page)
    assert "kümmert sich das zuständige Team darum" in await page.locator("main").inner_text()
    assert await FollowUp.count() == 1

    await page.goto(f"{server}/s/{token}/unsubscribe")
    await _assert_german(page)
    await page.get_by_role("button", name="Keine Umfragen mehr").click()
    await _assert_german(page)
    assert await page.locator("h1").inner_text() == "Sie erhalten keine Umfragen mehr"

    await page.goto(f"{server}/s/{token}")  # answered already
    await _assert_german(page)
    assert await page.locator("h1").inner_text() == "Bereits beantwortet"
    await context.close()


@pytest.mark.parametrize("width", [320, 390])
async def test_the_nps_scale_stays_on_one_row_on_a_phone(server, browser, settings, width):
    await load_demo()
    expires = datetime.now(UTC) + timedelta(days=7)
    nps, _ = await make_invitation(
        settings.secret_key, step_key="renewal-offer", customer="c1", expires_at=expires
    )
    ces, _ = await make_invitation(
        settings.secret_key, step_key="checkout", customer="c2", expires_at=expires
    )
    context = await browser.new_context(viewport={"width": width, "height": 700})
    page = await context.new_page()
    await page.goto(f"{server}/s/{nps}")
    boxes = [await label.bounding_box() for label in await page.locator(".scale label").all()]
    assert len(boxes) == 11
    assert len({round(b["y"]) for b in boxes}) == 1  # one row
    for box in boxes:
        assert box["width"] >= 24 and box["height"] >= 24  # WCAG 2.2, 2.5.8
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
    assert await page.evaluate("document.documentElement.scrollWidth") <= width

    # Every other scale keeps 44 px targets.
    await page.goto(f"{server}/s/{ces}")
    for label in await page.locator(".scale label").all():
        box = await label.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44
        assert box["x"] + box["width"] <= width
    await context.close()


async def test_the_emails_nps_links_fit_one_row_of_a_phone(browser):
    from listening.delivery.email import FirstQuestion, InvitationMail, invitation_message
    from surveys.languages import Wording
    from surveys.organisation import Organisation

    mail = InvitationMail(
        uid="u1",
        to="anna@example.ch",
        name="Anna",
        step_name="Ihr Verlängerungsangebot",
        survey_url="https://feedback.example/s/t",
        unsubscribe_url="https://feedback.example/s/t/unsubscribe",
        question=FirstQuestion(kind="nps", text="Wie wahrscheinlich empfehlen Sie uns?"),
        wording=Wording.of("de", Organisation(name="Example Shop")),
    )
    message = invitation_message(mail, sender="feedback@example.com", now=NOW)
    html = message.get_body(preferencelist=("html",)).get_content()
    context = await browser.new_context(viewport={"width": 390, "height": 700})
    page = await context.new_page()
    await page.set_content(html)
    boxes = [await link.bounding_box() for link in await page.locator("td a").all()]
    assert len(boxes) == 11 and len({round(b["y"]) for b in boxes}) == 1
    assert all(b["width"] >= 24 and b["x"] + b["width"] <= 390 for b in boxes)
    await context.close()
