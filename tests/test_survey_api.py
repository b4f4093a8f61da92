"""The token JSON API, and exactly-once storage under concurrent double submission."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from conftest import app_with
from survey_data import NOW, fixed_clock, load_org, make_invitation

from surveys.errors import Conflict
from surveys.responses import submit_response
from surveys.tables import Answer, Invitation, Response
from surveys.tallies import recompute, stored


@pytest.fixture
async def org(db):
    await load_org()


@pytest.fixture
async def api(settings, org):
    app = app_with(settings, fixed_clock())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield c


async def test_get_lists_questions_in_the_customers_locale(api, settings):
    token, inv = await make_invitation(settings.secret_key, locale="de")
    got = await api.get(f"/api/responses/{token}")
    assert got.status_code == 200
    body = got.json()
    assert body["step"] == "ticket-resolved" and body["locale"] == "de"
    questions = {q["key"]: q for q in body["questions"]}
    assert list(questions) == ["csat", "effort", "channel", "comment"]
    assert questions["csat"]["text"] == "Wie zufrieden sind Sie mit der Lösung Ihrer Anfrage?"
    assert questions["csat"]["low"] == 1 and questions["csat"]["high"] == 5
    assert questions["csat"]["low_label"] == "Sehr unzufrieden"  # end labels follow the language
    assert questions["channel"]["options"] == ["Phone", "Chat", "Email"]
    assert questions["effort"]["required"] is False
    row = await Invitation.select(Invitation.status).where(Invitation.id == inv).first()
    assert row["status"] == "opened"


async def test_post_stores_201_then_409(api, settings):
    token, _ = await make_invitation(settings.secret_key)
    answers = {"csat": 5, "effort": "7", "channel": "Email", "comment": "Great"}
    created = await api.post(f"/api/responses/{token}", json={"answers": answers})
    assert created.status_code == 201, created.text
    assert created.json()["id"] > 0
    again = await api.post(f"/api/responses/{token}", json={"answers": answers})
    assert again.status_code == 409
    assert again.json()["field"] == "token"
    assert await Response.count() == 1
    scores = sorted(
        r["score"] for r in await Answer.select(Answer.score).where(Answer.score.is_not_null())
    )
    assert scores == [5, 7]


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({}, "csat"),
        ({"csat": 6}, "csat"),
        ({"csat": 0}, "csat"),
        ({"csat": True}, "csat"),
        ({"csat": 4.5}, "csat"),
        ({"csat": 3, "channel": "Fax"}, "channel"),
        ({"csat": 3, "comment": "y" * 2001}, "comment"),
        ({"csat": 3, "comment": "nul\x00"}, "comment"),
        ({"csat": 3, "comment": 12}, "comment"),
        ({"csat": 3, "nonsense": 1}, "nonsense"),
    ],
)
async def test_invalid_answers_answer_422_naming_the_question(api, settings, answers, field):
    token, _ = await make_invitation(settings.secret_key)
    refused = await api.post(f"/api/responses/{token}", json={"answers": answers})
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert field in [e["field"] for e in body["errors"]]
    assert await Response.count() == 0


async def test_all_errors_are_reported_at_once(api, settings):
    token, _ = await make_invitation(settings.secret_key)
    refused = await api.post(
        f"/api/responses/{token}", json={"answers": {"effort": 8, "channel": "Fax"}}
    )
    fields = {e["field"] for e in refused.json()["errors"]}
    assert fields == {"csat", "effort", "channel"}


async def test_malformed_body_is_a_4xx(api, settings):
    token, _ = await make_invitation(settings.secret_key)
    for body in (b"not json", b'{"answers": 3}', b"[]"):
        refused = await api.post(
            f"/api/responses/{token}", content=body, headers={"content-type": "application/json"}
        )
        assert 400 <= refused.status_code < 500, (body, refused.status_code)
    assert await Response.count() == 0


async def test_expired_410_and_unknown_404(api, settings):
    token, _ = await make_invitation(settings.secret_key, expires_at=NOW - timedelta(seconds=1))
    assert (await api.get(f"/api/responses/{token}")).status_code == 410
    gone = await api.post(f"/api/responses/{token}", json={"answers": {"csat": 3}})
    assert gone.status_code == 410
    unknown = await api.post("/api/responses/" + "B" * 43, json={"answers": {"csat": 3}})
    assert unknown.status_code == 404
    assert "ticket" not in unknown.text
    assert await Response.count() == 0


async def test_api_needs_no_csrf_token_but_a_session_does_not_bypass_the_token(api, settings):
    # The token is the credential: a POST without any cookie works, a wrong token never does.
    token, _ = await make_invitation(settings.secret_key)
    wrong = await api.post(f"/api/responses/{token}x", json={"answers": {"csat": 3}})
    assert wrong.status_code == 404
    ok = await api.post(f"/api/responses/{token}", json={"answers": {"csat": 3}})
    assert ok.status_code == 201


async def test_documented_in_openapi(api):
    schema = (await api.get("/schema/openapi.json")).json()
    post = schema["paths"]["/api/responses/{token}"]["post"]
    assert {"201", "409", "410", "422"} <= set(post["responses"])
    assert "get" in schema["paths"]["/api/responses/{token}"]


async def test_concurrent_double_submission_stores_one_response(settings, org):
    token, inv = await make_invitation(settings.secret_key)
    clock = fixed_clock()

    async def attempt(score: int):
        try:
            return await submit_response(token, {"csat": score}, clock=clock)
        except Conflict:
            return None

    results = await asyncio.gather(*(attempt(1 + n % 5) for n in range(8)))
    stored_ones = [r for r in results if r is not None]
    assert len(stored_ones) == 1
    assert await Response.count() == 1
    assert await Response.count().where(Response.invitation == inv) == 1
    assert await Answer.count() == 1
    assert await stored() == await recompute()
    assert sum((await stored()).values()) == 1


@pytest.mark.parametrize("score", [2, 4])  # with a follow-up, and without (SQLite batches it)
async def test_concurrent_double_submission_over_http(api, settings, score):
    token, _ = await make_invitation(settings.secret_key)
    answers = {"answers": {"csat": score, "comment": "twice?"}}
    replies = await asyncio.gather(
        *(api.post(f"/api/responses/{token}", json=answers) for _ in range(6))
    )
    codes = sorted(r.status_code for r in replies)
    assert codes == [201, 409, 409, 409, 409, 409]
    assert await Response.count() == 1
    assert await Answer.count() == 2
    assert await stored() == await recompute()
