"""A customer answers a survey in a real browser, with the keyboard only and JavaScript off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from survey_data import load_org, make_invitation

from surveys.tables import Answer, Invitation, Response

pytestmark = pytest.mark.browser


async def test_keyboard_only_answer_without_javascript_on_a_phone(server, browser, settings, db):
    await load_org()
    expires = datetime.now(UTC) + timedelta(days=7)
    token, invitation_id = await make_invitation(
        settings.secret_key, attributes={"channel": "chat"}, expires_at=expires
    )
    context = await browser.new_context(
        java_script_enabled=False, viewport={"width": 320, "height": 640}
    )
    page = await context.new_page()
    await page.goto(f"{server}/s/{token}?answer=2")
    assert await page.title() == "Your request is resolved"
    assert await page.locator("#q-csat-2").is_checked()  # the one-click choice from the email

    # Phone layout: nothing wider than the screen, every scale target at least 44 px.
    width = await page.locator("body").bounding_box()
    assert width["width"] <= 320
    for label in await page.locator(".scale label").all():
        box = await label.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    submit = await page.locator("button[type=submit]").bounding_box()
    assert submit["height"] >= 44

    # Keyboard only: the skip link, then into the first scale where 2 is already chosen.
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    assert await page.locator("#q-csat-2").evaluate("e => e === document.activeElement")
    for _ in range(2):
        await page.keyboard.press("ArrowRight")  # 2 → 4
    await page.keyboard.press("Tab")  # the effort scale
    for _ in range(5):
        await page.keyboard.press("ArrowRight")  # 1 → 6
    await page.keyboard.press("Tab")  # how did you contact us
    await page.keyboard.press("ArrowDown")  # Phone → Chat
    await page.keyboard.press("Tab")  # the comment
    await page.keyboard.type("Fast & kind <3")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{server}/s/{token}/thanks")
    assert await page.locator("h1").inner_text() == "Thank you!"
    await context.close()

    response = await Response.select().where(Response.invitation == invitation_id).first()
    assert response is not None and response["source"] == "invited"
    answers = {
        a["question.key"]: a
        for a in await Answer.select(
            Answer.question.key, Answer.score, Answer.choice, Answer.text
        ).where(Answer.response == response["id"])
    }
    assert answers["csat"]["score"] == 4
    assert answers["effort"]["score"] == 6
    assert answers["channel"]["choice"] == "Chat"
    assert answers["comment"]["text"] == "Fast & kind <3"
    status = await Invitation.select(Invitation.status).where(Invitation.id == invitation_id)
    assert status[0]["status"] == "answered"


async def test_errors_are_announced_next_to_the_question(server, browser, settings, db):
    await load_org()
    token, _ = await make_invitation(
        settings.secret_key, expires_at=datetime.now(UTC) + timedelta(days=7)
    )
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{server}/s/{token}")
    await page.locator("#q-comment").fill("<script>alert(1)</script>")
    await page.locator("button[type=submit]").click()
    error = page.locator("#q-csat-error")
    assert "Please answer this question." in await error.inner_text()
    assert await page.locator("#q-csat").get_attribute("aria-describedby") == "q-csat-error"
    assert await page.locator("#q-comment").input_value() == "<script>alert(1)</script>"
    assert await Response.count() == 0
    await context.close()
