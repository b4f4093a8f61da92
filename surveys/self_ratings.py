"""Employee self-ratings: the steps an employee's department owns, and their own answers.

The employee's id is stored only while the round is open, so each employee answers each step
once per round and can see, change or erase their answers; nothing here returns a rating to
anyone but its author. When the round ends, `surveys.anonymisation` severs that link: the
author's answers in a closed round can no longer be shown, changed or erased (that is what keeps
published figures from moving), and their own page lists such rounds with counts only. Every
change keeps `surveys.tallies` up to date in the same transaction (source "employee", the
round's id, day = the round's end date).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from surveys.anonymisation import anonymise_ended_rounds
from surveys.answers import AskedQuestion, default_wording, validate_answers
from surveys.clock import Clock, system_clock
from surveys.errors import Conflict, Forbidden, Invalid, NotFound
from surveys.rounds import (
    RoundInfo,
    hold_unclosed,
    next_round_for,
    open_round_for,
    participation,
    rounds_of_department,
    write_transaction,
)
from surveys.scales import SCALES, end_labels
from surveys.tables import Department, Question, SelfRating, SelfRatingScore, Step, Survey
from surveys.tallies import TallyKey, add_counts

COMMENT_MAX = 2000


@dataclass(frozen=True)
class RatingQuestion:
    """A rating question of a step: the customer's wording beside the employee's, on one scale."""

    id: int
    key: str
    kind: str
    customer: str
    employee: str
    low: int
    high: int
    low_label: str
    high_label: str
    required: bool

    @property
    def levels(self) -> range:
        """The scores an answer may take."""
        return range(self.low, self.high + 1)


@dataclass(frozen=True)
class StepToRate:
    """A step the employee's department owns, with its rating questions."""

    id: int
    key: str
    name: str
    journey: str
    moment_of_truth: bool
    questions: tuple[RatingQuestion, ...]


@dataclass(frozen=True)
class MyRating:
    """One of the employee's own ratings, shown only to that employee."""

    round_id: int
    round_name: str
    round_open: bool
    step: str
    step_name: str
    answers: dict[str, int]
    comment: str | None
    updated_at: datetime


@dataclass(frozen=True)
class ClosedRound:
    """A round of the employee's department that has ended: anonymised, so counts only."""

    round_id: int
    round_name: str
    ends_at: datetime
    department: str
    invited: int
    answered: int
    anonymised: bool = True  # its ratings no longer name their authors


async def _questions_by_step(step_ids: list[int]) -> dict[int, tuple[RatingQuestion, ...]]:
    """The rating questions of each step's active survey (its latest active version)."""
    if not step_ids:
        return {}
    surveys = (
        await Survey.select(Survey.id, Survey.step)
        .where(Survey.step.is_in(step_ids) & (Survey.active == True))
        .order_by(Survey.version)
    )
    survey_of_step = {row["step"]: row["id"] for row in surveys}  # latest version wins
    if not survey_of_step:
        return {}
    rows = (
        await Question.select()
        .where(
            Question.survey.is_in(list(survey_of_step.values()))
            & Question.kind.is_in(list(SCALES))
            & Question.employee.is_not_null()
        )
        .order_by(Question.position)
        .output(load_json=True)
    )
    step_of_survey = {survey: step for step, survey in survey_of_step.items()}
    questions: dict[int, list[RatingQuestion]] = {}
    for row in rows:
        scale = SCALES[row["kind"]]
        low_label, high_label = end_labels(row["kind"], row["low_label"], row["high_label"])
        questions.setdefault(step_of_survey[row["survey"]], []).append(
            RatingQuestion(
                id=row["id"],
                key=row["key"],
                kind=row["kind"],
                customer=default_wording(row["customer"]),
                employee=row["employee"],
                low=scale.low,
                high=scale.high,
                low_label=low_label,
                high_label=high_label,
                required=row["required"],
            )
        )
    return {step: tuple(qs) for step, qs in questions.items()}


def _step(row: dict, questions: tuple[RatingQuestion, ...]) -> StepToRate:
    return StepToRate(
        id=row["id"],
        key=row["key"],
        name=row["name"],
        journey=row["journey_name"],
        moment_of_truth=row["moment_of_truth"],
        questions=questions,
    )


_STEP_COLUMNS = (
    Step.id,
    Step.key,
    Step.name,
    Step.department,
    Step.moment_of_truth,
    Step.journey.name.as_alias("journey_name"),
)


async def steps_to_rate(department_id: int) -> list[StepToRate]:
    """The active steps this department owns that have rating questions, in journey order."""
    rows = (
        await Step.select(*_STEP_COLUMNS)
        .where((Step.department == department_id) & (Step.active == True))
        .order_by(Step.journey.position)
        .order_by(Step.journey.id)
        .order_by(Step.position)
    )
    questions = await _questions_by_step([r["id"] for r in rows])
    return [_step(r, questions[r["id"]]) for r in rows if questions.get(r["id"])]


async def step_to_rate(department_id: int, step_key: str) -> StepToRate:
    """One step for an employee of this department: 404 unknown, 403 another department's."""
    row = (
        await Step.select(*_STEP_COLUMNS)
        .where((Step.key == step_key) & (Step.active == True))
        .first()
    )
    if row is None:
        raise NotFound(f"no step {step_key!r}", field="step")
    if row["department"] != department_id:
        raise Forbidden("this step belongs to another department", field="step")
    questions = (await _questions_by_step([row["id"]])).get(row["id"], ())
    if not questions:
        raise NotFound(f"step {step_key!r} has no question for employees", field="step")
    return _step(row, questions)


def _asked(question: RatingQuestion) -> AskedQuestion:
    # The customer page's validation, applied to the employee's wording of the question.
    return AskedQuestion(
        id=question.id,
        key=question.key,
        kind=question.kind,
        text=question.employee,
        locale=None,
        required=question.required,
        low=question.low,
        high=question.high,
        low_label=question.low_label,
        high_label=question.high_label,
        options=(),
        higher_is_better=True,
        alert_threshold=None,
    )


def check_answers(step: StepToRate, answers: Any) -> dict[RatingQuestion, int]:
    """The scores by question; 422 naming each question with a bad or missing score.

    The rules are the customer page's (`surveys.answers.validate_answers`): forms may send
    digits as text, JSON sends numbers; booleans, fractions and levels off the scale are refused.
    """
    if not isinstance(answers, Mapping):
        raise Invalid("answers must map question keys to scores", field="answers")
    given, errors = validate_answers([_asked(q) for q in step.questions], answers)
    if errors:
        field, message = next(iter(errors.items()))
        raise Invalid(f"{field}: {message}", field=field, errors=errors)
    if not given:
        raise Invalid("answer at least one question", field="answers")
    by_id = {q.id: q for q in step.questions}
    return {by_id[g.question.id]: g.score for g in given if g.score is not None}


def check_comment(comment: Any) -> str | None:
    """A stored comment: trimmed text without NUL, at most COMMENT_MAX characters, or None."""
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise Invalid("the comment must be text", field="comment")
    if "\x00" in comment:
        raise Invalid("the comment contains a NUL character", field="comment")
    comment = comment.strip()
    if len(comment) > COMMENT_MAX:
        raise Invalid(f"at most {COMMENT_MAX} characters", field="comment")
    return comment or None


def _tally_day(ends_at: datetime) -> Any:
    return ends_at.astimezone(UTC).date()


async def _old_scores(rating_id: int) -> list[dict]:
    return await SelfRatingScore.select(SelfRatingScore.question, SelfRatingScore.score).where(
        SelfRatingScore.rating == rating_id
    )


_UPSERT_RATING = (
    'INSERT INTO "self_rating" ("round", "step", "employee", "department", "comment", '
    '"created_at", "updated_at") VALUES ({}, {}, {}, {}, {}, {}, {}) '
    'ON CONFLICT ("round", "step", "employee") DO UPDATE SET '
    '"comment" = excluded."comment", "updated_at" = excluded."updated_at" '
    'RETURNING "id"'
)


async def submit(
    *,
    employee_id: int,
    department_id: int,
    step_key: Any,
    answers: Any,
    comment: Any = None,
    clock: Clock = system_clock,
) -> MyRating:
    """Store or change the employee's rating of one step in the open round."""
    if not isinstance(step_key, str) or not step_key:
        raise Invalid("name the step to rate", field="step")
    step = await step_to_rate(department_id, step_key)
    scores = check_answers(step, answers)
    text = check_comment(comment)
    async with write_transaction():
        now = clock()
        round_ = await open_round_for(department_id, clock=lambda: now)
        if round_ is None or not await hold_unclosed([round_.id], now):
            raise Conflict(await _closed_message(department_id, clock), field="round")
        # The upsert takes the row lock, so concurrent submissions of one employee for one step
        # end as one rating: the later one replaces the earlier one's scores.
        rows = await SelfRating.raw(
            _UPSERT_RATING, round_.id, step.id, employee_id, department_id, text, now, now
        )
        rating_id = rows[0]["id"]
        day = _tally_day(round_.ends_at)
        changes: Counter[TallyKey] = Counter()
        for old in await _old_scores(rating_id):
            changes[(step.id, old["question"], "employee", round_.id, day, old["score"])] -= 1
        await SelfRatingScore.delete().where(SelfRatingScore.rating == rating_id)
        for question, score in scores.items():
            await SelfRatingScore(rating=rating_id, question=question.id, score=score).save()
            changes[(step.id, question.id, "employee", round_.id, day, score)] += 1
        await add_counts(changes)
    return MyRating(
        round_id=round_.id,
        round_name=round_.name,
        round_open=True,
        step=step.key,
        step_name=step.name,
        answers={q.key: s for q, s in scores.items()},
        comment=text,
        updated_at=now,
    )


async def _closed_message(department_id: int, clock: Clock) -> str:
    upcoming = await next_round_for(department_id, clock=clock)
    if upcoming is None:
        return "no rating round is open for your department"
    return (
        "no rating round is open for your department; the next one opens "
        f"{upcoming.starts_at.isoformat()}"
    )


async def current_round(department_id: int, *, clock: Clock = system_clock) -> RoundInfo | None:
    """The round open now for this department, or None."""
    return await open_round_for(department_id, clock=clock)


async def upcoming_round(department_id: int, *, clock: Clock = system_clock) -> RoundInfo | None:
    """The next round to open for this department, or None."""
    return await next_round_for(department_id, clock=clock)


async def my_ratings(
    employee_id: int, *, round_id: int | None = None, clock: Clock = system_clock
) -> list[MyRating]:
    """The employee's own ratings in rounds not yet closed (all, or one round), newest first.

    Ratings of closed rounds are anonymised first, so they are no longer the employee's to see.
    """
    await anonymise_ended_rounds(clock=clock)
    query = SelfRating.select(
        SelfRating.id,
        SelfRating.comment,
        SelfRating.updated_at,
        SelfRating.round.id.as_alias("round_id"),
        SelfRating.round.name.as_alias("round_name"),
        SelfRating.round.starts_at.as_alias("starts_at"),
        SelfRating.round.ends_at.as_alias("ends_at"),
        SelfRating.step.key.as_alias("step_key"),
        SelfRating.step.name.as_alias("step_name"),
    ).where(SelfRating.employee == employee_id)
    if round_id is not None:
        query = query.where(SelfRating.round == round_id)
    rows = await query.order_by(SelfRating.round.starts_at, ascending=False).order_by(
        SelfRating.step.position
    )
    scores: dict[int, dict[str, int]] = {}
    if rows:
        for row in await SelfRatingScore.select(
            SelfRatingScore.rating,
            SelfRatingScore.score,
            SelfRatingScore.question.key.as_alias("key"),
        ).where(SelfRatingScore.rating.is_in([r["id"] for r in rows])):
            scores.setdefault(row["rating"], {})[row["key"]] = row["score"]
    now = clock()
    return [
        MyRating(
            round_id=r["round_id"],
            round_name=r["round_name"],
            round_open=r["starts_at"] <= now < r["ends_at"],
            step=r["step_key"],
            step_name=r["step_name"],
            answers=scores.get(r["id"], {}),
            comment=r["comment"],
            updated_at=r["updated_at"],
        )
        for r in rows
    ]


async def my_closed_rounds(department_id: int, *, clock: Clock = system_clock) -> list[ClosedRound]:
    """The department's rounds that have ended, newest first, with participation counts only."""
    await anonymise_ended_rounds(clock=clock)
    now = clock()
    department = await Department.select(Department.key).where(Department.id == department_id)
    key = department[0]["key"] if department else ""
    found = []
    for info in reversed(await rounds_of_department(department_id)):
        if info.status(now) != "closed":
            continue
        counts = next((p for p in await participation(info.id) if p.department == key), None)
        found.append(
            ClosedRound(
                round_id=info.id,
                round_name=info.name,
                ends_at=info.ends_at,
                department=key,
                invited=counts.invited if counts else 0,
                answered=counts.answered if counts else 0,
            )
        )
    return found


async def erase_mine(
    employee_id: int,
    *,
    round_id: int | None = None,
    step_key: str | None = None,
    clock: Clock = system_clock,
) -> int:
    """Erase the employee's own ratings in rounds not yet closed; returns how many.

    A closed round's ratings are anonymised first: they are no one's to erase any more, so no
    published figure moves.
    """
    await anonymise_ended_rounds(clock=clock)
    async with write_transaction():
        now = clock()
        query = SelfRating.select(
            SelfRating.id, SelfRating.round, SelfRating.step, SelfRating.round.ends_at
        ).where((SelfRating.employee == employee_id) & (SelfRating.round.ends_at > now))
        if round_id is not None:
            query = query.where(SelfRating.round == round_id)
        if step_key is not None:
            query = query.where(SelfRating.step.key == step_key)
        rows = await query
        held = set(await hold_unclosed(sorted({r["round"] for r in rows}), now))
        rows = [r for r in rows if r["round"] in held]
        if not rows:
            return 0
        ids = [r["id"] for r in rows]
        changes: Counter[TallyKey] = Counter()
        by_id = {r["id"]: r for r in rows}
        for score in await SelfRatingScore.select().where(SelfRatingScore.rating.is_in(ids)):
            r = by_id[score["rating"]]
            day = _tally_day(r["round.ends_at"])
            changes[
                (r["step"], score["question"], "employee", r["round"], day, score["score"])
            ] -= 1
        await add_counts(changes)
        await SelfRating.delete().where(SelfRating.id.is_in(ids))
    return len(rows)
