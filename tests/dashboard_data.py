"""Test data for the dashboards: the demo organisation, customer responses and employee ratings.

Rows are written the way the services write them: the raw rows and their tallies
(`surveys.tallies.add_counts`) in one transaction.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from conftest import restore_or_build

from surveys.journey_file import load_journey
from surveys.tables import (
    Answer,
    Department,
    Question,
    Response,
    ResponseSegment,
    Round,
    RoundDepartment,
    SelfRating,
    SelfRatingScore,
    Step,
    User,
)
from surveys.tallies import add_counts, response_source

DEMO = Path(__file__).resolve().parents[1] / "listening" / "demo" / "journey.toml"
TODAY = date(2026, 11, 20)


def at(day: date, hour: int = 12) -> datetime:
    """Noon UTC of a day."""
    return datetime.combine(day, time(hour), tzinfo=UTC)


async def demo_org() -> None:
    """Load the example organisation."""
    await load_journey(DEMO)


async def question_id(step: str, key: str) -> tuple[int, int, int]:
    """(step id, survey id, question id) of a step's question in the newest survey version."""
    row = await (
        Question.select(
            Question.id,
            Question.survey.id.as_alias("survey"),
            Question.survey.step.id.as_alias("step"),
        )
        .where((Question.survey.step.key == step) & (Question.key == key))
        .order_by(Question.survey.version, ascending=False)
        .first()
    )
    assert row is not None, (step, key)
    return row["step"], row["survey"], row["id"]


async def add_responses(
    step: str,
    question: str,
    scores: list[int],
    day: date,
    *,
    source: str = "invited",
    segments: dict[str, str] | None = None,
    texts: dict[str, str] | None = None,
) -> list[int]:
    """Store one customer response per score on a step's rating question (plus text answers)."""
    return await add_many(
        [(step, question, score, day, source, segments, texts) for score in scores]
    )


Spec = tuple[str, str, int, date, str, dict[str, str] | None, dict[str, str] | None]


async def add_many(specs: list[Spec], chunk: int = 200) -> list[int]:
    """Store many responses in one transaction: (step, question, score, day, source, segments,
    texts) each, with their answers, segments and tallies."""
    ids_of: dict[tuple[str, str], tuple[int, int, int]] = {}
    for step, question, _, _, _, _, texts in specs:
        for key in (question, *(texts or {})):
            if (step, key) not in ids_of:
                ids_of[(step, key)] = await question_id(step, key)
    counts: Counter = Counter()
    ids: list[int] = []
    async with Response._meta.db.transaction():
        for first in range(0, len(specs), chunk):
            part = specs[first : first + chunk]
            created = await Response.insert(
                *(
                    Response(
                        survey=ids_of[(step, question)][1],
                        step=ids_of[(step, question)][0],
                        source=source,
                        attributes=json.dumps(segments or {}),
                        submitted_at=at(day),
                    )
                    for step, question, _, day, source, segments, _ in part
                )
            ).returning(Response.id)
            new_ids = [row["id"] for row in created]
            ids += new_ids
            answers, tags = [], []
            for response_id, (step, question, score, day, source, segments, texts) in zip(
                new_ids, part, strict=True
            ):
                step_id, _, qid = ids_of[(step, question)]
                answers.append(Answer(response=response_id, question=qid, score=score))
                answers += [
                    Answer(response=response_id, question=ids_of[(step, key)][2], text=text)
                    for key, text in (texts or {}).items()
                ]
                tags += [
                    ResponseSegment(response=response_id, name=n, value=v)
                    for n, v in (segments or {}).items()
                ]
                counts[(step_id, qid, response_source(source), 0, day, score)] += 1
            await Answer.insert(*answers)
            if tags:
                await ResponseSegment.insert(*tags)
        await add_counts(counts)
    return ids


async def add_round(name: str, ends: date, departments: list[str], *, days: int = 14) -> int:
    """A rating round of these departments that ended on `ends`."""
    now = at(ends)
    created = await Round.insert(
        Round(name=name, starts_at=now - timedelta(days=days), ends_at=now, created_at=now)
    ).returning(Round.id)
    round_id = created[0]["id"]
    for key in departments:
        department = await Department.select(Department.id).where(Department.key == key).first()
        await RoundDepartment.insert(RoundDepartment(round=round_id, department=department["id"]))
    return round_id


async def employee(department: str, number: int) -> int:
    """The id of employee `number` of a department (created on first use)."""
    email = f"{department}-{number}@example.com"
    found = await User.select(User.id).where(User.email == email).first()
    if found:
        return found["id"]
    row = await Department.select(Department.id).where(Department.key == department).first()
    created = await User.insert(
        User(
            email=email,
            name=f"Employee {number}",
            roles="employee",
            department=row["id"],
            created_at=at(TODAY),
        )
    ).returning(User.id)
    return created[0]["id"]


async def add_ratings(
    round_id: int,
    department: str,
    step: str,
    question: str,
    scores: list[int],
    *,
    comments: list[str] | None = None,
) -> None:
    """Employees 1…n of a department rate a step in a round (one rater per score)."""
    step_id, _, qid = await question_id(step, question)
    ends = (await Round.select(Round.ends_at).where(Round.id == round_id).first())["ends_at"]
    department_id = (
        await Department.select(Department.id).where(Department.key == department).first()
    )["id"]
    counts: Counter = Counter()
    async with SelfRating._meta.db.transaction():
        for number, score in enumerate(scores, start=1):
            user = await employee(department, number)
            comment = comments[number - 1] if comments and number <= len(comments) else None
            rating = await SelfRating.insert(
                SelfRating(
                    round=round_id,
                    step=step_id,
                    employee=user,
                    department=department_id,
                    comment=comment,
                    created_at=ends,
                    updated_at=ends,
                )
            ).returning(SelfRating.id)
            await SelfRatingScore.insert(
                SelfRatingScore(rating=rating[0]["id"], question=qid, score=score)
            )
            counts[(step_id, qid, "employee", round_id, ends.astimezone(UTC).date(), score)] += 1
        await add_counts(counts)


async def step_id(key: str) -> int:
    """A step's id."""
    return (await Step.select(Step.id).where(Step.key == key).first())["id"]


# A scenario every dashboard test can share: four departments rated in one round, customers
# over October and November 2026, segments alternating phone and web.
ROUND_END = date(2026, 11, 1)
CUSTOMER_CELLS = {
    ("shop", "checkout", "effort"): (3, 7),
    ("shop", "find-product", "effort"): (2, 7),
    ("logistics", "order-delivered", "csat"): (1, 5),
    ("logistics", "return-item", "effort"): (2, 6),
    ("support", "reach-support", "effort"): (1, 6),
    ("support", "ticket-resolved", "csat"): (2, 5),
    ("sales", "get-advice", "csat"): (2, 5),
}
EMPLOYEE_SCORES = {
    ("shop", "checkout", "effort"): [6, 7, 6, 5, 7, 6, 7, 6],
    ("shop", "find-product", "effort"): [5, 6, 6, 7, 5, 6],
    # Four raters: hidden (too few); their mean 1.25 maps to 6.25 points, a value to hunt for.
    ("logistics", "order-delivered", "csat"): [1, 1, 1, 2],
    ("logistics", "return-item", "effort"): [5, 6, 5, 6, 7, 5, 6, 6, 5],
    ("support", "reach-support", "effort"): [4, 5, 6, 5, 4, 5, 6],
    ("support", "ticket-resolved", "csat"): [4, 5, 4, 5, 5, 4, 5, 4, 5],
    ("sales", "get-advice", "csat"): [5, 5, 4, 5, 5, 4, 5, 5, 4, 5, 5, 5],
}
SALES_COMMENTS = [f"Sales comment {i}" for i in range(12)]


async def scenario(*, days: int = 50, per_day: int = 3, seed: int = 5) -> int:
    """Load the demo organisation, customer responses and one round; returns the round id.

    Built once per run and restored from a snapshot after (on an empty SQLite database).
    """
    return await restore_or_build(
        f"scenario-{days}-{per_day}-{seed}", lambda: _scenario(days, per_day, seed)
    )


async def _scenario(days: int, per_day: int, seed: int) -> int:
    await demo_org()
    rng = random.Random(seed)
    specs: list[Spec] = []
    for offset in range(days):
        day = TODAY - timedelta(days=offset)
        channel = "phone" if offset % 2 else "web"
        for (_, step, question), (low, high) in CUSTOMER_CELLS.items():
            texts = {"comment": f'=HYPERLINK("x") day {offset}'} if step == "get-advice" else {}
            specs += [
                (
                    step,
                    question,
                    rng.randint(low, high),
                    day,
                    "invited",
                    {"channel": channel},
                    texts,
                )
                for _ in range(per_day)
            ]
    await add_many(specs)
    await add_responses("checkout", "effort", [1, 2], TODAY, source="unsolicited")
    round_id = await add_round("Autumn", ROUND_END, ["shop", "logistics", "support", "sales"])
    for (department, step, question), scores in EMPLOYEE_SCORES.items():
        comments = SALES_COMMENTS if department == "sales" else None
        await add_ratings(round_id, department, step, question, scores, comments=comments)
    return round_id
