"""One write path per answer: the SQLite store and a plain transaction write the same rows."""

from __future__ import annotations

import json
import os

import pytest
from survey_data import NOW, fixed_clock, load_org, make_invitation

from surveys import response_store
from surveys.errors import Conflict
from surveys.response_rows import response_rows
from surveys.responses import Notify, submit_response
from surveys.tables import Answer, FollowUp, Invitation, Message, Response, ResponseSegment, Tally

ENGINE = os.environ.get("LISTENING_TEST_ENGINE", "sqlite")
ANSWERS = {"csat": 1, "effort": 2, "comment": "Slow"}
NOTIFY = Notify(base_url="https://lp.example", webhook_url="https://hooks.example/x")


async def _stored(response_id: int) -> dict:
    """What one response wrote, without ids and moments that differ between two writes."""
    response = await Response.select(
        Response.survey, Response.step, Response.source, Response.locale, Response.attributes
    ).where(Response.id == response_id)
    answers = await Answer.select(Answer.question, Answer.score, Answer.choice, Answer.text).where(
        Answer.response == response_id
    )
    segments = await ResponseSegment.select(ResponseSegment.name, ResponseSegment.value).where(
        ResponseSegment.response == response_id
    )
    follow_ups = await FollowUp.select(
        FollowUp.step, FollowUp.department, FollowUp.question, FollowUp.score, FollowUp.status
    ).where(FollowUp.response == response_id)
    for row in response:
        row["attributes"] = (
            json.loads(row["attributes"])
            if isinstance(row["attributes"], str)
            else row["attributes"]
        )
    return {
        "response": response,
        "answers": sorted(answers, key=lambda a: a["question"]),
        "segments": sorted(segments, key=lambda s: s["name"]),
        "follow_ups": sorted(follow_ups, key=lambda f: f["question"]),
    }


@pytest.fixture
async def org(db):
    await load_org()


@pytest.fixture
def without_store():
    """Submissions written in a plain transaction, as PostgreSQL always does."""
    response_store.use_store(lambda engine: None)
    yield
    from listening.sqlite_batch import batch_for

    response_store.use_store(batch_for)


async def _submit(settings, customer: str):
    token, _ = await make_invitation(
        settings.secret_key, customer=customer, attributes={"channel": "chat", "vip": True}
    )
    return await submit_response(token, ANSWERS, clock=fixed_clock(), notify=NOTIFY)


async def test_both_ways_write_the_same_rows(settings, org, request):
    # SQLite writes through the shell's store unless told otherwise; PostgreSQL never does.
    assert (response_store.fast_store() is not None) is (ENGINE == "sqlite")
    batched = await _submit(settings, "c1")
    request.getfixturevalue("without_store")
    plain = await _submit(settings, "c2")
    assert batched.follow_up_ids and plain.follow_up_ids
    one, other = await _stored(batched.response_id), await _stored(plain.response_id)
    assert one == other
    assert one["segments"] == [
        {"name": "channel", "value": "chat"},
        {"name": "vip", "value": "true"},
    ]
    # Each response counted once per question and level: two responses, counts of two.
    tallies = await Tally.select(Tally.question, Tally.level, Tally.count)
    assert len(tallies) == 2 and {t["count"] for t in tallies} == {2}
    # An email and a webhook notice per response.
    assert await Message.count() == 4


async def test_an_answered_invitation_is_not_answered_again_either_way(settings, org, request):
    token, _ = await make_invitation(settings.secret_key, customer="c3")
    await submit_response(token, ANSWERS, clock=fixed_clock(), notify=NOTIFY)
    with pytest.raises(Conflict):
        await submit_response(token, ANSWERS, clock=fixed_clock(), notify=NOTIFY)
    request.getfixturevalue("without_store")
    with pytest.raises(Conflict):
        await submit_response(token, ANSWERS, clock=fixed_clock(), notify=NOTIFY)
    assert await Response.count() == 1


def test_rows_count_each_level_once_per_question():
    from surveys.answers import AskedQuestion, GivenAnswer

    def asked(qid: int, key: str) -> AskedQuestion:
        return AskedQuestion(
            id=qid,
            key=key,
            kind="csat",
            text=key,
            locale=None,
            required=True,
            low=1,
            high=5,
            low_label=None,
            high_label=None,
            options=(),
            higher_is_better=True,
            alert_threshold=2,
        )

    given = [GivenAnswer(asked(1, "a"), 4, None, None), GivenAnswer(asked(2, "b"), 1, None, "x")]
    rows = response_rows(
        survey_id=5, step_id=7, given=given, source="invited", now=NOW, attributes={"n": 3}
    )
    day = NOW.date()
    assert rows.tallies == [(7, 1, "customer", 0, day, 4, 1), (7, 2, "customer", 0, day, 1, 1)]
    assert rows.segments == {"n": "3"}
    assert [a.question.id for a in rows.alerts] == [2]


async def _rows_for(settings, customer: str, answers: dict, *, status: str = "sent"):
    """A new invitation and the rows a submission of `answers` to it writes."""
    from surveys.answers import validate_answers
    from surveys.responses import find_invitation

    token, invitation_id = await make_invitation(settings.secret_key, customer=customer)
    invitation = await find_invitation(token, clock=fixed_clock(), fresh=True)
    given, errors = validate_answers(invitation.questions, answers)
    assert not errors
    if status != "sent":
        await Invitation.update({Invitation.status: status}).where(Invitation.id == invitation_id)
    rows = response_rows(
        survey_id=invitation.survey_id,
        step_id=invitation.step_id,
        given=given,
        source="invited",
        now=NOW,
        invitation_id=invitation.id,
        customer_id=invitation.customer_id,
        attributes={"channel": customer},
    )
    return token, rows


@pytest.mark.parametrize("max_parameters", [response_store.MAX_PARAMETERS, 24])
async def test_a_batch_writes_each_answer_once_and_counts_it_once(
    settings, org, monkeypatch, max_parameters
):
    """Also with statements cut short, as a batch of many answers is cut at the limit."""
    from surveys.response_store import PiccoloDb, ToWrite, write_responses

    monkeypatch.setattr(response_store, "MAX_PARAMETERS", max_parameters)
    from surveys.tallies import recompute
    from surveys.transactions import write_transaction

    _, low = await _rows_for(settings, "b1", ANSWERS)
    _, high = await _rows_for(settings, "b2", {"csat": 5, "effort": 7})
    answered_token, answered = await _rows_for(settings, "b3", {"csat": 4, "effort": 6})
    await submit_response(answered_token, {"csat": 4, "effort": 6}, clock=fixed_clock())
    _, expired = await _rows_for(settings, "b4", {"csat": 3, "effort": 4}, status="expired")
    unsolicited = [
        response_rows(
            survey_id=low.survey_id,
            step_id=low.step_id,
            given=high.given[: n + 1],
            source="unsolicited",
            now=NOW,
        )
        for n in range(2)
    ]
    batch = [
        ToWrite(r, customer_ref=ref, notify=NOTIFY)
        for r, ref in [
            (low, "b1"),
            (unsolicited[0], None),
            (low, "b1"),  # the same invitation twice in one batch
            (high, "b2"),
            (answered, "b3"),
            (expired, "b4"),
            (unsolicited[1], None),
        ]
    ]
    async with write_transaction():
        outcomes = await write_responses(PiccoloDb(), batch)
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == [
        "Submitted",
        "Submitted",
        "Conflict",
        "Submitted",
        "Conflict",
        "Conflict",
        "Submitted",
    ]
    # Each stored response is the one of its item: its invitation, its answers, its segments.
    for index, item in enumerate(batch):
        if type(outcomes[index]).__name__ != "Submitted":
            continue
        stored = await Response.select(Response.invitation).where(
            Response.id == outcomes[index].response_id
        )
        assert stored[0]["invitation"] == item.rows.invitation_id
        scores = await Answer.select(Answer.question, Answer.score).where(
            Answer.response == outcomes[index].response_id
        )
        assert sorted((a["question"], a["score"]) for a in scores) == sorted(
            (q, s) for q, s, _, _ in item.rows.answers
        )
    # The expired invitation kept no response and stays expired; the low score opened follow-ups.
    assert await Response.count().where(Response.invitation == expired.invitation_id) == 0
    status = await Invitation.select(Invitation.status).where(
        Invitation.id == expired.invitation_id
    )
    assert status[0]["status"] == "expired"
    assert outcomes[0].follow_up_ids and not outcomes[3].follow_up_ids
    follow_ups = await FollowUp.select(FollowUp.id, FollowUp.response)
    assert {f["response"] for f in follow_ups} == {outcomes[0].response_id}
    assert sorted(f["id"] for f in follow_ups) == sorted(outcomes[0].follow_up_ids)
    # The tallies add up to what the raw rows say: each answer counted once.
    tallies = {
        (t["step"], t["question"], t["source"], t["round_id"], t["day"], t["level"]): t["count"]
        for t in await Tally.select()
    }
    assert tallies == {k: v for k, v in (await recompute()).items() if v}


async def test_a_server_on_postgresql_batches_concurrent_answers(settings, org):
    """Through the app: concurrent submissions, each token twice, store one answer each."""
    import asyncio

    import httpx

    from listening.app import create_app

    tokens = [(await make_invitation(settings.secret_key, customer=f"p{n}"))[0] for n in range(24)]
    app = create_app(settings, clock=fixed_clock(), manage_pool=False)
    transport = httpx.ASGITransport(app=app)
    # The app's lifespan in the test's loop, as a server runs it around its requests.
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client,
    ):
        if ENGINE == "postgresql":
            # The server's lifespan installed the batching store for its loop.
            assert response_store.batch_store() is not None
        posts = [
            client.post(
                f"/api/responses/{token}",
                json={"answers": {"csat": 1 + n % 5, "effort": 1 + n % 7}},
            )
            for n, token in enumerate(tokens * 2)
        ]
        answers = await asyncio.gather(*posts)
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 24 and codes.count(409) == 24, codes
    assert response_store.batch_store() is None
    assert await Response.count() == 24
    from surveys.tallies import recompute

    tallies = await Tally.select(Tally.count)
    assert sum(t["count"] for t in tallies) == sum((await recompute()).values()) == 48
