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
from surveys.tables import Answer, FollowUp, Message, Response, ResponseSegment, Tally

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
