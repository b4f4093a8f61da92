"""Journey as code: loading, idempotency, versioning and errors that name the key at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from surveys.errors import Invalid
from surveys.journey_file import load_journey
from surveys.tables import Answer, Department, Journey, Question, Response, Step, Survey

EXAMPLE = Path(__file__).resolve().parents[1] / "listening" / "demo" / "journey.toml"

SMALL = """
[[departments]]
key = "support"
name = "Customer Support"

[[journeys]]
key = "get-help"
name = "Get help"

  [[journeys.steps]]
  key = "ticket-resolved"
  name = "Your request is resolved"
  department = "support"
  moment_of_truth = true

    [[journeys.steps.questions]]
    key = "csat"
    kind = "csat"
    customer = "How satisfied are you with how we resolved your request?"
    employee = "How satisfied are customers with how we resolve their requests?"

    [[journeys.steps.questions]]
    key = "comment"
    kind = "text"
    required = false
    customer = "What could we have done better?"
"""


async def counts() -> dict[str, int]:
    return {t.__name__: await t.count() for t in (Department, Journey, Step, Survey, Question)}


async def test_example_file_loads_a_whole_organisation(db):
    summary = await load_journey(EXAMPLE)
    assert summary.created["departments"] == 5
    assert summary.created["steps"] >= 12
    step = (
        await Step.select(Step.name, Step.moment_of_truth, Step.department.key)
        .where(Step.key == "checkout")
        .first()
    )
    assert step == {"name": "You order and pay", "moment_of_truth": True, "department.key": "shop"}
    wording = (
        await Question.select(Question.customer)
        .where(Question.survey.step.key == "order-delivered", Question.key == "csat")
        .output(load_json=True)
        .first()
    )
    assert wording["customer"]["de"].startswith("Wie zufrieden")


async def test_loading_the_same_file_twice_changes_nothing(db):
    await load_journey(SMALL)
    before = await counts()
    summary = await load_journey(SMALL)
    assert not summary.changed
    assert await counts() == before


async def test_changed_wording_on_an_answered_survey_makes_a_new_version(db):
    await load_journey(SMALL)
    survey = await Survey.select().first()
    question = await Question.select().where(Question.key == "csat").first()
    from datetime import UTC, datetime

    response = await Response.insert(
        Response(
            survey=survey["id"],
            step=survey["step"],
            source="unsolicited",
            submitted_at=datetime.now(UTC),
        )
    ).returning(Response.id)
    await Answer.insert(Answer(response=response[0]["id"], question=question["id"], score=4))

    summary = await load_journey(SMALL.replace("how we resolved your request", "how we solved it"))
    assert summary.new_survey_versions == ["ticket-resolved v2"]
    surveys = await Survey.select(Survey.version, Survey.active).order_by(Survey.version)
    assert surveys == [{"version": 1, "active": False}, {"version": 2, "active": True}]
    old = (
        await Question.select(Question.customer)
        .where(Question.id == question["id"])
        .output(load_json=True)
        .first()
    )
    assert "how we resolved your request" in old["customer"]["en"]


async def test_changed_wording_without_answers_edits_in_place(db):
    await load_journey(SMALL)
    await load_journey(SMALL.replace("how we resolved your request", "how we solved it"))
    assert await Survey.count() == 1
    q = (
        await Question.select(Question.customer)
        .where(Question.key == "csat")
        .output(load_json=True)
        .first()
    )
    assert "how we solved it" in q["customer"]["en"]


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        (
            SMALL.replace('department = "support"', 'department = "nowhere"'),
            "journeys[0].steps[0].department",
        ),
        (
            SMALL.replace(
                'employee = "How satisfied are customers with how we resolve their requests?"',
                "",
            ),
            "journeys[0].steps[0].questions[0].employee",
        ),
        (
            SMALL.replace('kind = "csat"', 'kind = "stars"'),
            "journeys[0].steps[0].questions[0].kind",
        ),
        (SMALL.replace('name = "Get help"', "name = 3"), "journeys[0].name"),
        (SMALL.replace('key = "csat"', 'key = "comment"'), "journeys[0].steps[0].questions"),
    ],
)
async def test_bad_document_names_the_key_and_writes_nothing(db, broken, field):
    with pytest.raises(Invalid) as caught:
        await load_journey(broken)
    assert caught.value.field == field
    assert field in caught.value.message
    assert await counts() == dict.fromkeys(
        ["Department", "Journey", "Step", "Survey", "Question"], 0
    )


async def test_syntax_error_names_the_line(db):
    with pytest.raises(Invalid) as caught:
        await load_journey(SMALL + "\n[[journeys]\n")
    assert "line" in caught.value.message
    assert await Department.count() == 0


async def test_failure_half_way_rolls_back(db):
    # The department is valid and would be written first; the unknown one fails later.
    doc = SMALL.replace('department = "support"', 'department = "nowhere"')
    with pytest.raises(Invalid):
        await load_journey(doc)
    assert await Department.count() == 0
