"""Always-on feedback posts: unsolicited responses per step, a honeypot, per-address limits."""

from __future__ import annotations

import re

import httpx
import pytest
from conftest import app_with
from survey_data import fixed_clock, load_org

from surveys.tables import Answer, Response
from surveys.tallies import recompute, stored


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


def csrf_of(page: httpx.Response) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)


async def test_form_shows_the_steps_questions_and_a_hidden_honeypot(web):
    page = await web.get("/f/ticket-resolved")
    assert page.status_code == 200
    assert "Your request is resolved" in page.text
    assert 'name="csat"' in page.text and 'name="comment"' in page.text
    assert 'name="website"' in page.text and 'class="hp" aria-hidden="true"' in page.text
    german = await web.get("/f/ticket-resolved", headers={"accept-language": "fr;q=0.9, de"})
    assert "Wie zufrieden sind Sie" in german.text


async def test_post_is_stored_as_unsolicited_and_tallied_apart(web):
    page = await web.get("/f/ticket-resolved")
    sent = await web.post(
        "/f/ticket-resolved",
        data={"_csrf_token": csrf_of(page), "csat": "4", "comment": "Nice <em>staff</em>"},
    )
    assert sent.status_code == 200 and "Thank you" in sent.text
    response = await Response.select().first()
    assert response["source"] == "unsolicited"
    assert response["invitation"] is None and response["customer"] is None
    assert await Answer.count() == 2
    counts = await stored()
    assert counts == await recompute()
    assert {key[2] for key in counts} == {"unsolicited"}


async def test_filled_honeypot_gets_thanks_and_stores_nothing(web):
    page = await web.get("/f/ticket-resolved")
    sent = await web.post(
        "/f/ticket-resolved",
        data={"_csrf_token": csrf_of(page), "csat": "5", "website": "http://spam.example"},
    )
    assert sent.status_code == 200 and "Thank you" in sent.text
    assert await Response.count() == 0


async def test_invalid_post_shows_errors_next_to_questions(web):
    page = await web.get("/f/ticket-resolved")
    sent = await web.post(
        "/f/ticket-resolved",
        data={"_csrf_token": csrf_of(page), "csat": "11", "comment": "<script>bad()</script>"},
    )
    assert sent.status_code == 422
    assert 'id="q-csat-error"' in sent.text
    assert "&lt;script&gt;bad()&lt;/script&gt;" in sent.text and "<script>bad" not in sent.text
    assert await Response.count() == 0


async def test_unknown_step_is_404(web):
    assert (await web.get("/f/no-such-step")).status_code == 404
    assert (await web.get("/f/" + "x" * 300)).status_code == 404


async def test_missing_cookie_gets_a_page_to_retry(web):
    page = await web.get("/f/ticket-resolved")
    token = csrf_of(page)
    web.cookies.clear()
    sent = await web.post("/f/ticket-resolved", data={"_csrf_token": token, "csat": "3"})
    assert sent.status_code == 403 and "press “Send” again" in sent.text
    assert re.search(r'value="3" checked', sent.text)
    assert await Response.count() == 0


async def test_posts_are_limited_per_address_before_validation(web, settings):
    assert settings.public_rate_limit == 10
    # Garbage counts too: the limit holds before any parsing or checking.
    for _ in range(settings.public_rate_limit):
        refused = await web.post("/f/ticket-resolved", data={"csat": "x"})
        assert refused.status_code == 403
    page = await web.get("/f/ticket-resolved")  # showing the form is not limited
    assert page.status_code == 200
    limited = await web.post("/f/ticket-resolved", data={"_csrf_token": csrf_of(page), "csat": "4"})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert await Response.count() == 0
