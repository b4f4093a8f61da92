"""Concurrency over real HTTP: a running uvicorn server gets 50 requests at once.

50 submissions of one survey token (half through the token API, half through the survey form)
store exactly one response; 50 copies of one event store one event and one invitation. No
client sees a 5xx or "database is locked", on either engine.
"""

from __future__ import annotations

import asyncio
import re

import httpx
from example_org import link_event, load_example_org, token_of
from live_server import LiveServer

from listening.tables import Event
from surveys.tables import Answer, Invitation, Response

COPIES = 50
# High limits: this test is about concurrent writes, not the rate limiter.
LIMITS = {"LISTENING_PUBLIC_RATE_LIMIT": "100000", "LISTENING_TOKEN_RATE_LIMIT": "100000"}


def _client(server: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        timeout=120,
        limits=httpx.Limits(max_connections=COPIES, max_keepalive_connections=COPIES),
    )


def _no_server_trouble(answers: list[httpx.Response], server: LiveServer) -> None:
    for answer in answers:
        assert answer.status_code < 500, answer.text
        assert "locked" not in answer.text.lower(), answer.text
    assert "Traceback" not in server.log(), server.log()[-5000:]


async def test_fifty_concurrent_submissions_of_one_token_store_one_response(db, tmp_root):
    org = await load_example_org()
    auth = {"Authorization": f"Bearer {org.admin_key}"}
    with LiveServer(tmp_root / "concurrency-token.log", env=LIMITS) as server:
        async with _client(server) as http:
            sent = await http.post("/api/events", json=link_event("c-1", "cust-1"), headers=auth)
            assert sent.status_code == 202, sent.text
            token = token_of(sent.json())
            page = await http.get(f"/s/{token}")
            assert page.status_code == 200
            csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
            through_api = [
                http.post(f"/api/responses/{token}", json={"answers": {"csat": 4, "comment": "a"}})
                for _ in range(COPIES // 2)
            ]
            through_form = [
                http.post(
                    f"/s/{token}",
                    data={"csat": "2", "comment": "f", "_csrf_token": csrf},
                    follow_redirects=False,
                )
                for _ in range(COPIES - COPIES // 2)
            ]
            answers = await asyncio.gather(*through_api, *through_form)
        _no_server_trouble(answers, server)
    stored = sorted(a.status_code for a in answers if a.status_code in (201, 303))
    refused = [a.status_code for a in answers if a.status_code not in (201, 303)]
    assert len(stored) == 1, [a.status_code for a in answers]
    assert refused == [409] * (COPIES - 1)
    invitation = await Invitation.select(Invitation.id, Invitation.status).first()
    responses = await Response.select().where(Response.invitation == invitation["id"])
    assert len(responses) == 1
    assert invitation["status"] == "answered"
    # The stored answers are those of the one accepted request, none mixed in from another.
    scores = await Answer.select(Answer.score).where(
        (Answer.response == responses[0]["id"]) & (Answer.score.is_not_null())
    )
    assert scores == [{"score": 4 if stored == [201] else 2}]


async def test_fifty_concurrent_copies_of_one_event_store_one_event_and_one_invitation(
    db, tmp_root
):
    org = await load_example_org()
    auth = {"Authorization": f"Bearer {org.admin_key}"}
    body = link_event("dup-1", "cust-dup")
    with LiveServer(tmp_root / "concurrency-event.log", env=LIMITS) as server:
        async with _client(server) as http:
            answers = await asyncio.gather(
                *(http.post("/api/events", json=body, headers=auth) for _ in range(COPIES))
            )
        _no_server_trouble(answers, server)
    assert sorted(a.status_code for a in answers) == [200] * (COPIES - 1) + [202]
    assert {token_of(a.json()) for a in answers} == {token_of(answers[0].json())}
    assert await Event.count().where(Event.source_id == "dup-1") == 1
    assert await Invitation.count() == 1
