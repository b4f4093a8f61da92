"""The survey page of an invitation link: opening, one-click answers, submitting, errors."""

from __future__ import annotations

import re

import httpx
import pytest
from conftest import app_with
from survey_data import NOW, fixed_clock, load_org, make_invitation

from surveys.tables import Answer, Invitation, Response, ResponseSegment
from surveys.tallies import recompute, stored


@pytest.fixture
async def org(db):
    await load_org()


@pytest.fixture
async def survey_client(settings, org):
    app = app_with(settings, fixed_clock())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver.local",
        headers={"accept": "text/html"},
    ) as c:
        yield c


def csrf_of(page: httpx.Response) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)


async def status_of(invitation_id: int) -> str:
    row = await Invitation.select(Invitation.status).where(Invitation.id == invitation_id).first()
    return row["status"]


async def test_opening_shows_the_step_and_questions_and_marks_opened(survey_client, settings):
    token, inv = await make_invitation(settings.secret_key)
    page = await survey_client.get(f"/s/{token}")
    assert page.status_code == 200
    assert "Your request is resolved" in page.text
    assert "How satisfied are you with how we resolved your request?" in page.text
    assert "<fieldset" in page.text and "<legend>" in page.text
    assert "Very dissatisfied" in page.text and "Very satisfied" in page.text
    assert 'style="' not in page.text and "<script" not in page.text
    assert await status_of(inv) == "opened"
    assert await Response.count() == 0


async def test_questions_in_the_customers_locale_with_fallback(survey_client, settings):
    token, _ = await make_invitation(settings.secret_key, locale="de-CH")
    page = await survey_client.get(f"/s/{token}")
    assert "Wie zufrieden sind Sie mit der Lösung Ihrer Anfrage?" in page.text
    # No German wording for this one: the default language.
    assert "How easy was it to get your request resolved?" in page.text
    assert '<html lang="de">' in page.text


async def test_one_click_answer_preselects_and_stores_nothing(survey_client, settings):
    token, inv = await make_invitation(settings.secret_key)
    page = await survey_client.get(f"/s/{token}?answer=4")
    assert page.status_code == 200
    assert re.search(r'value="4" checked', page.text)
    assert len(re.findall(r" checked", page.text)) == 1
    # Following the same link again (a mail scanner, then the person) changes nothing more.
    await survey_client.get(f"/s/{token}?answer=4")
    assert await Response.count() == 0
    assert await status_of(inv) == "opened"
    out_of_range = await survey_client.get(f"/s/{token}?answer=9")
    assert " checked" not in out_of_range.text


async def test_submit_stores_the_whole_response_then_thanks(survey_client, settings):
    attributes = {"channel": "phone", "region": "north", "vip": True}
    token, inv = await make_invitation(settings.secret_key, attributes=attributes)
    page = await survey_client.get(f"/s/{token}")
    sent = await survey_client.post(
        f"/s/{token}",
        data={
            "_csrf_token": csrf_of(page),
            "csat": "4",
            "effort": "6",
            "channel": "Chat",
            "comment": "Quick and friendly",
        },
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/s/{token}/thanks"
    thanks = await survey_client.get(sent.headers["location"])
    assert thanks.status_code == 200 and "Thank you" in thanks.text
    response = await Response.select().first()
    assert response["invitation"] == inv and response["source"] == "invited"
    answers = {
        a["question.key"]: a
        for a in await Answer.select(
            Answer.question.key, Answer.score, Answer.choice, Answer.text
        ).where(Answer.response == response["id"])
    }
    assert answers["csat"]["score"] == 4 and answers["effort"]["score"] == 6
    assert answers["channel"]["choice"] == "Chat"
    assert answers["comment"]["text"] == "Quick and friendly"
    segments = {
        s["name"]: s["value"]
        for s in await ResponseSegment.select().where(ResponseSegment.response == response["id"])
    }
    assert segments == {"channel": "phone", "region": "north", "vip": "true"}
    assert await status_of(inv) == "answered"
    assert await stored() == await recompute()
    again = await survey_client.post(
        f"/s/{token}", data={"_csrf_token": csrf_of(page), "csat": "1"}
    )
    assert again.status_code == 409
    assert "already answered" in again.text
    assert await Response.count() == 1


async def test_errors_show_next_to_their_questions_with_answers_kept(survey_client, settings):
    token, inv = await make_invitation(settings.secret_key)
    page = await survey_client.get(f"/s/{token}")
    sent = await survey_client.post(
        f"/s/{token}",
        data={
            "_csrf_token": csrf_of(page),
            "effort": "9",
            "channel": "Carrier pigeon",
            "comment": "x" * 2001,
        },
    )
    assert sent.status_code == 422
    text = sent.text
    assert 'id="q-csat-error"' in text and "Please answer this question." in text
    assert 'id="q-effort-error"' in text and "from 1 to 7" in text
    assert 'id="q-channel-error"' in text and "answers offered" in text
    assert 'id="q-comment-error"' in text and "2,000" in text
    assert "x" * 2001 in text  # the text is kept for the customer to shorten
    assert await Response.count() == 0
    assert await status_of(inv) == "opened"
    # The same form with its answers fixed goes through.
    fixed = await survey_client.post(
        f"/s/{token}",
        data={"_csrf_token": csrf_of(sent), "csat": "5", "effort": "7", "comment": "x" * 2000},
    )
    assert fixed.status_code == 303
    assert await Response.count() == 1


async def test_script_comment_is_stored_verbatim_and_shown_escaped(survey_client, settings):
    token, _ = await make_invitation(settings.secret_key)
    page = await survey_client.get(f"/s/{token}")
    comment = "<script>alert('x')</script> & \"quotes\""
    sent = await survey_client.post(
        f"/s/{token}",
        data={"_csrf_token": csrf_of(page), "csat": "7", "comment": comment},
    )
    # csat 7 is out of range, so the form comes back with the comment in it.
    assert sent.status_code == 422
    assert "<script>alert" not in sent.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;quotes&#34;" in sent.text
    ok = await survey_client.post(
        f"/s/{token}",
        data={"_csrf_token": csrf_of(sent), "csat": "1", "comment": comment},
    )
    assert ok.status_code == 303
    stored_text = await Answer.select(Answer.text).where(Answer.text.is_not_null()).first()
    assert stored_text["text"] == comment


async def test_nul_byte_in_text_is_refused(survey_client, settings):
    token, _ = await make_invitation(settings.secret_key)
    page = await survey_client.get(f"/s/{token}")
    sent = await survey_client.post(
        f"/s/{token}",
        data={"_csrf_token": csrf_of(page), "csat": "3", "comment": "a\x00b"},
    )
    assert sent.status_code == 422
    assert 'id="q-comment-error"' in sent.text
    assert await Response.count() == 0


async def test_missing_cookie_shows_the_form_again_not_a_bare_403(survey_client, settings):
    token, _ = await make_invitation(settings.secret_key)
    page = await survey_client.get(f"/s/{token}")
    csrf = csrf_of(page)
    survey_client.cookies.clear()
    sent = await survey_client.post(
        f"/s/{token}", data={"_csrf_token": csrf, "csat": "2", "comment": "kept"}
    )
    assert sent.status_code == 403
    assert sent.headers["content-type"].startswith("text/html")
    assert "press “Send” again" in sent.text
    assert re.search(r'value="2" checked', sent.text) and ">kept</textarea>" in sent.text
    assert "lp_csrf" in sent.headers["set-cookie"]
    assert await Response.count() == 0
    # With the fresh cookie and token the same press works.
    again = await survey_client.post(
        f"/s/{token}", data={"_csrf_token": csrf_of(sent), "csat": "2", "comment": "kept"}
    )
    assert again.status_code == 303
    assert await Response.count() == 1


async def test_cross_site_post_without_token_stores_nothing(survey_client, settings):
    token, _ = await make_invitation(settings.secret_key)
    await survey_client.get(f"/s/{token}")  # the cookie alone is not enough
    sent = await survey_client.post(f"/s/{token}", data={"csat": "1"})
    assert sent.status_code == 403
    assert await Response.count() == 0


async def test_expired_link_is_a_friendly_410(survey_client, settings):
    from datetime import timedelta

    token, inv = await make_invitation(settings.secret_key, expires_at=NOW - timedelta(minutes=1))
    page = await survey_client.get(f"/s/{token}")
    assert page.status_code == 410
    assert "This survey has closed" in page.text
    sent = await survey_client.post(f"/s/{token}", data={"csat": "3"})
    assert sent.status_code in (403, 410)
    assert await status_of(inv) == "sent"
    assert await Response.count() == 0


async def test_unknown_token_is_a_404_that_reveals_nothing(survey_client, settings):
    token, _ = await make_invitation(settings.secret_key)
    unknown = await survey_client.get("/s/" + "A" * 43)
    assert unknown.status_code == 404
    assert "Page not found" in unknown.text
    assert "Your request is resolved" not in unknown.text
    too_long = await survey_client.get("/s/" + "A" * 500)
    assert too_long.status_code == 404
    answered_other = await survey_client.get(f"/s/{token[:-1]}x")
    assert answered_other.status_code == 404


async def test_answered_link_says_already_answered(survey_client, settings):
    token, _ = await make_invitation(settings.secret_key, status="answered")
    page = await survey_client.get(f"/s/{token}")
    assert page.status_code == 409
    assert "already answered" in page.text


async def test_tallies_match_recompute_after_several_submissions(survey_client, settings):
    for n, score in enumerate([1, 2, 5, 5, 3]):
        token, _ = await make_invitation(settings.secret_key, customer=f"c{n}")
        page = await survey_client.get(f"/s/{token}")
        sent = await survey_client.post(
            f"/s/{token}", data={"_csrf_token": csrf_of(page), "csat": str(score), "effort": "4"}
        )
        assert sent.status_code == 303
    counts = await stored()
    assert counts == await recompute()
    csat_fives = [v for (_, _, src, _, day, level), v in counts.items() if level == 5]
    assert csat_fives == [2]
    assert all(day == NOW.date() for (_, _, _, _, day, _) in counts)


async def test_cached_pages_carry_each_links_own_token_and_form_token(survey_client, settings):
    first, _ = await make_invitation(settings.secret_key)
    second, _ = await make_invitation(settings.secret_key)
    one = await survey_client.get(f"/s/{first}", headers={"cookie": ""})
    survey_client.cookies.clear()
    two = await survey_client.get(f"/s/{second}")
    # The second page is served from the cache of the first: same questions, own links.
    assert f'action="/s/{first}"' in one.text and f"/s/{first}/unsubscribe" in one.text
    assert f'action="/s/{second}"' in two.text and f"/s/{second}/unsubscribe" in two.text
    assert first not in two.text and second not in one.text
    # Each page's form token is the one its cookie holds; two visitors, two tokens.
    assert csrf_of(one) == one.cookies["lp_csrf"]
    assert csrf_of(two) == two.cookies["lp_csrf"]
    assert csrf_of(one) != csrf_of(two)
    # A visitor who already holds a signed token keeps it: no new cookie, same token.
    again = await survey_client.get(f"/s/{second}")
    assert "set-cookie" not in again.headers
    assert csrf_of(again) == csrf_of(two)
    # A forged cookie is replaced, never echoed into the page.
    survey_client.cookies.set("lp_csrf", "f" * 96)
    forged = await survey_client.get(f"/s/{second}")
    assert csrf_of(forged) != "f" * 96 and forged.cookies["lp_csrf"] == csrf_of(forged)
