"""The read layer of the dashboards: the organisation's rating questions and the counts of a view.

Counts come from the tallies (`surveys.tallies`), so reading them costs the same for a hundred
responses as for ten million. A segment filter (`segment.channel=phone`) cannot be answered from
tallies; it reads the raw customer rows (Response + ResponseSegment + Answer, all indexed).

Scores are oriented so that higher is better: the levels of a question marked
`higher_is_better = false` are mirrored on its scale (1 ↔ 5), so a positive gap always means
that employees think better of the step than its customers do.

Survey versions: the answers to every version of a step's survey count together under the
question's key, as long as the question keeps the kind (and so the scale) of the newest version.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl
from piccolo.engine.postgres import PostgresEngine
from piccolo.query.functions.aggregate import Count
from piccolo.querystring import QueryString

from dashboards.rows import CustomerComment, FollowUpRow, RoundLabel
from surveys.answers import default_wording
from surveys.scales import end_labels, is_rating, scale_of
from surveys.tables import (
    Answer,
    Department,
    FollowUp,
    Journey,
    Question,
    ResponseSegment,
    Round,
    RoundInvitee,
    SelfRating,
    SelfRatingScore,
    Step,
    Tally,
)

# Columns of the frame `read_counts` returns, one row per cell, source, round, day and level.
COUNT_COLUMNS: tuple[str, ...] = (
    "department",
    "journey",
    "step",
    "question",
    "kind",
    "source",
    "round_id",
    "day",
    "level",
    "count",
    "scale_low",
    "scale_high",
)

COUNT_SCHEMA: dict[str, Any] = {
    "department": pl.String,
    "journey": pl.String,
    "step": pl.String,
    "question": pl.String,
    "kind": pl.String,
    "source": pl.String,
    "round_id": pl.Int64,
    "day": pl.Date,
    "level": pl.Int64,
    "count": pl.Int64,
    "scale_low": pl.Int64,
    "scale_high": pl.Int64,
}


@dataclass(frozen=True)
class DepartmentInfo:
    """A department as the dashboards name it."""

    id: int
    key: str
    name: str


@dataclass(frozen=True)
class StepInfo:
    """A step of a journey, with its place in the journey map."""

    id: int
    key: str
    name: str
    department: str
    journey: str
    journey_name: str
    order: int  # position in the organisation: journeys in order, then steps in order
    moment_of_truth: bool


@dataclass(frozen=True)
class QuestionInfo:
    """A rating question of a step (the newest version's wording) and the ids it pools."""

    step: str
    key: str
    kind: str
    low: int
    high: int
    low_label: str
    high_label: str
    higher_is_better: bool
    wording: str
    position: int
    ids: tuple[int, ...]


@dataclass(frozen=True)
class Catalog:
    """The active organisation: departments, journeys, steps and their rating questions."""

    departments: dict[str, DepartmentInfo]
    journeys: dict[str, str]
    steps: dict[str, StepInfo]
    questions: dict[tuple[str, str], QuestionInfo]
    text_questions: dict[int, tuple[str, str]]  # question id -> (step key, question key)

    def cells(
        self, *, department: str | None = None, journey: str | None = None
    ) -> list[tuple[str, str, str]]:
        """The rating cells (department, step, question) in journey order, optionally narrowed."""
        found = []
        for (step_key, question_key), question in self.questions.items():
            step = self.steps[step_key]
            if department is not None and step.department != department:
                continue
            if journey is not None and step.journey != journey:
                continue
            found.append((step.department, step_key, question_key, step.order, question.position))
        found.sort(key=lambda c: (c[3], c[4]))
        return [(d, s, q) for d, s, q, _, _ in found]

    def step_ids(self, cells: Iterable[tuple[str, str, str]]) -> list[int]:
        """The ids of the steps of these cells."""
        return sorted({self.steps[step].id for _, step, _ in cells})


async def load_catalog() -> Catalog:
    """The active departments, journeys, steps and rating questions, in journey order."""
    departments = await (
        Department.select(Department.id, Department.key, Department.name)
        .where(Department.active.eq(True))
        .order_by(Department.name)
    )
    journeys = await (
        Journey.select(Journey.key, Journey.name)
        .where(Journey.active.eq(True))
        .order_by(Journey.position)
        .order_by(Journey.id)
    )
    journey_rank = {row["key"]: index for index, row in enumerate(journeys)}
    steps = await Step.select(
        Step.id,
        Step.key,
        Step.name,
        Step.position,
        Step.moment_of_truth,
        Step.department.key.as_alias("department"),
        Step.journey.key.as_alias("journey"),
        Step.journey.name.as_alias("journey_name"),
    ).where(Step.active.eq(True))
    department_keys = {row["key"] for row in departments}
    steps = [
        s for s in steps if s["journey"] in journey_rank and s["department"] in department_keys
    ]
    steps.sort(key=lambda s: (journey_rank[s["journey"]], s["position"], s["id"]))
    step_infos = {
        s["key"]: StepInfo(
            id=s["id"],
            key=s["key"],
            name=s["name"],
            department=s["department"],
            journey=s["journey"],
            journey_name=s["journey_name"],
            order=index,
            moment_of_truth=bool(s["moment_of_truth"]),
        )
        for index, s in enumerate(steps)
    }
    step_by_id = {info.id: info for info in step_infos.values()}
    questions, text_questions = _rating_questions(
        await Question.select(
            Question.id,
            Question.key,
            Question.kind,
            Question.customer,
            Question.low_label,
            Question.high_label,
            Question.higher_is_better,
            Question.position,
            Question.survey.step.as_alias("step"),
            Question.survey.version.as_alias("version"),
        ).where(Question.survey.step.is_in(list(step_by_id) or [0])),
        step_by_id,
    )
    return Catalog(
        departments={r["key"]: DepartmentInfo(r["id"], r["key"], r["name"]) for r in departments},
        journeys={r["key"]: r["name"] for r in journeys},
        steps=step_infos,
        questions=questions,
        text_questions=text_questions,
    )


def _rating_questions(
    rows: list[dict[str, Any]], step_by_id: dict[int, StepInfo]
) -> tuple[dict[tuple[str, str], QuestionInfo], dict[int, tuple[str, str]]]:
    """Rating questions keyed by (step, question key), newest version first; text question ids."""
    rows = sorted(rows, key=lambda r: (-r["version"], r["position"], r["id"]))
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    ids: dict[tuple[str, str], list[int]] = {}
    text_questions: dict[int, tuple[str, str]] = {}
    for row in rows:
        step = step_by_id[row["step"]].key
        cell = (step, row["key"])
        if row["kind"] == "text":
            text_questions[row["id"]] = cell
            continue
        if not is_rating(row["kind"]):
            continue
        first = newest.setdefault(cell, row)
        if row["kind"] == first["kind"]:
            ids.setdefault(cell, []).append(row["id"])
    questions = {}
    for cell, row in newest.items():
        low, high = scale_of(row["kind"])
        low_label, high_label = end_labels(row["kind"], row["low_label"], row["high_label"])
        better = bool(row["higher_is_better"])
        questions[cell] = QuestionInfo(
            step=cell[0],
            key=cell[1],
            kind=row["kind"],
            low=low,
            high=high,
            # Mirrored levels put the better end on the right, so its label goes there too.
            low_label=low_label if better else high_label,
            high_label=high_label if better else low_label,
            higher_is_better=better,
            wording=default_wording(row["customer"]),
            position=row["position"],
            ids=tuple(sorted(ids[cell])),
        )
    return questions, text_questions


def _placeholders(values: Sequence[Any]) -> str:
    return ", ".join("{}" for _ in values)


def _is_postgres() -> bool:
    return isinstance(Tally._meta.db, PostgresEngine)


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of a day: tallies count customer answers by their UTC date."""
    return datetime.combine(day, time(0), tzinfo=UTC)


async def _run(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Run SQL with "{}" placeholders (values travel as arguments), straight on the engine."""
    rows = await Tally._meta.db.run_querystring(QueryString(sql, *args))
    return [dict(row) for row in rows]  # PostgreSQL answers asyncpg Records


def _bucket_case(buckets: Sequence[tuple[date, date]]) -> tuple[str, list[date]]:
    """A portable SQL expression numbering the bucket a "day" falls in (buckets in order)."""
    parts = " ".join('WHEN "day" <= {} THEN ' + str(index) for index in range(len(buckets)))
    return f"CASE {parts} END", [last for _, last in buckets]


async def _customer_tallies(
    start: date, end: date, buckets: Sequence[tuple[date, date]]
) -> list[dict[str, Any]]:
    """Customer and unsolicited tallies of days start…end, summed per bucket of days.

    Summing in the database keeps the answer small (cells × buckets × levels) whatever the
    number of days or responses; rows carry the first day of their bucket as "day".
    """
    case, ends = _bucket_case(buckets)
    sql = (
        f'SELECT "question", "source", {case} AS "bucket", "level", '  # noqa: S608
        'CAST(SUM("count") AS BIGINT) AS "count" FROM "tally" '
        'WHERE "source" <> \'employee\' AND "day" >= {} AND "day" <= {} '
        'GROUP BY "question", "source", 3, "level"'
    )
    rows = await _run(sql, *ends, start, end)
    firsts = [first for first, _ in buckets]
    return [
        {
            "question": r["question"],
            "source": r["source"],
            "round_id": 0,
            "day": firsts[r["bucket"]],
            "level": r["level"],
            "count": r["count"],
        }
        for r in rows
        if r["count"]
    ]


async def _employee_tallies(end: date) -> list[dict[str, Any]]:
    """Employee tallies of every round that ended by `end` (few rows: one per rating level)."""
    sql = (
        'SELECT "question", "source", "round_id", "day", "level", "count" FROM "tally" '
        'WHERE "source" = \'employee\' AND "day" <= {} AND "count" <> 0'
    )
    rows = await _run(sql, end)
    for row in rows:
        if isinstance(row["day"], str):
            row["day"] = date.fromisoformat(row["day"])
    return rows


def _into_buckets(
    rows: list[dict[str, Any]], buckets: Sequence[tuple[date, date]]
) -> list[dict[str, Any]]:
    """Label day-level customer rows with the first day of their bucket (outside: dropped)."""
    ends = [last for _, last in buckets]
    labelled = []
    for row in rows:
        index = bisect.bisect_left(ends, row["day"])
        if index < len(buckets) and buckets[index][0] <= row["day"]:
            labelled.append(row | {"day": buckets[index][0]})
    return labelled


async def _segment_rows(
    step_ids: list[int], start: date, end: date, segments: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Customer counts of the responses that carry every one of these segment values."""
    day = (
        "CAST((r.\"submitted_at\" AT TIME ZONE 'UTC') AS DATE)"
        if _is_postgres()
        else 'date(r."submitted_at")'
    )
    exists = " ".join(
        'AND EXISTS (SELECT 1 FROM "response_segment" s WHERE s."response" = r."id" '
        'AND s."name" = {} AND s."value" = {})'
        for _ in segments
    )
    sql = (
        f'SELECT r."step" AS "step", a."question" AS "question", '  # noqa: S608
        f"CASE WHEN r.\"source\" = 'unsolicited' THEN 'unsolicited' ELSE 'customer' END "
        f'AS "source", 0 AS "round_id", {day} AS "day", a."score" AS "level", '
        f'COUNT(*) AS "count" '
        f'FROM "response" r JOIN "answer" a ON a."response" = r."id" '
        f'WHERE r."submitted_at" >= {{}} AND r."submitted_at" < {{}} AND a."score" IS NOT NULL '
        f'AND r."step" IN ({_placeholders(step_ids)}) {exists} '
        f'GROUP BY r."step", a."question", 3, 5, a."score"'
    )
    args: list[Any] = [day_start(start), day_start(end + timedelta(days=1)), *step_ids]
    for name, value in segments:
        args += [name, value]
    rows = await Tally.raw(sql, *args)
    for row in rows:
        if isinstance(row["day"], str):
            row["day"] = date.fromisoformat(row["day"])
    return rows


async def read_counts(
    catalog: Catalog,
    cells: Sequence[tuple[str, str, str]],
    start: date,
    end: date,
    *,
    segments: Sequence[tuple[str, str]] = (),
    customers: bool = True,
    buckets: Sequence[tuple[date, date]] | None = None,
) -> pl.DataFrame:
    """Counts per cell, source, round, day and level (COUNT_COLUMNS), oriented higher-is-better.

    Customer and unsolicited rows are those of days `start`…`end`, summed per bucket of days
    (`buckets`: consecutive (first, last) day ranges covering start…end, e.g. the weeks of a
    trend; default one bucket), each row dated by its bucket's first day. They come from the
    tallies, or from the raw rows when `segments` filter them. Employee rows are every round
    ending by `end`, dated by the round's end (the caller picks one round per department:
    ratings are never pooled across rounds). `customers=False` reads the employee rows only.
    """
    buckets = list(buckets or [(start, end)])
    if not (customers and cells):
        return _count_frame(catalog, cells, await _employee_tallies(end))
    if segments:
        step_ids = catalog.step_ids(cells)
        employees, raw = await asyncio.gather(
            _employee_tallies(end), _segment_rows(step_ids, start, end, segments)
        )
        return _count_frame(catalog, cells, employees + _into_buckets(raw, buckets))
    # Two small queries at once: the engine runs each on its own connection.
    employees, customer_rows = await asyncio.gather(
        _employee_tallies(end), _customer_tallies(start, end, buckets)
    )
    return _count_frame(catalog, cells, employees + customer_rows)


def _count_frame(
    catalog: Catalog, cells: Sequence[tuple[str, str, str]], rows: list[dict[str, Any]]
) -> pl.DataFrame:
    """Attach the cell keys and scales to raw (question id, level, count) rows."""
    meta = []
    for department, step, question in cells:
        info = catalog.questions[(step, question)]
        journey = catalog.steps[step].journey
        for question_id in info.ids:
            meta.append(
                (
                    question_id,
                    department,
                    journey,
                    step,
                    question,
                    info.kind,
                    info.low,
                    info.high,
                    info.higher_is_better,
                )
            )
    meta_frame = pl.DataFrame(
        meta,
        schema={
            "question_id": pl.Int64,
            "department": pl.String,
            "journey": pl.String,
            "step": pl.String,
            "question": pl.String,
            "kind": pl.String,
            "scale_low": pl.Int64,
            "scale_high": pl.Int64,
            "higher_is_better": pl.Boolean,
        },
        orient="row",
    )
    raw = pl.DataFrame(
        rows,
        schema={
            "question": pl.Int64,
            "source": pl.String,
            "round_id": pl.Int64,
            "day": pl.Date,
            "level": pl.Int64,
            "count": pl.Int64,
        },
        orient="row",
    ).rename({"question": "question_id"})
    level = pl.col("level")
    mirrored = pl.col("scale_low") + pl.col("scale_high") - level
    frame = (
        raw.join(meta_frame, on="question_id", how="inner")
        .with_columns(level=pl.when(pl.col("higher_is_better")).then(level).otherwise(mirrored))
        .group_by([c for c in COUNT_COLUMNS if c != "count"])
        .agg(pl.col("count").sum())
    )
    return frame.select(COUNT_COLUMNS).cast(COUNT_SCHEMA)


async def rounds_named(round_ids: Iterable[int]) -> dict[int, RoundLabel]:
    """Names and end dates of these rounds."""
    ids = sorted(set(round_ids))
    if not ids:
        return {}
    rows = await Round.select(Round.id, Round.name, Round.ends_at).where(Round.id.is_in(ids))
    return {
        r["id"]: RoundLabel(r["id"], r["name"], r["ends_at"].astimezone(UTC).date()) for r in rows
    }


async def recent_comments(
    catalog: Catalog,
    step_keys: Sequence[str],
    start: date,
    end: date,
    *,
    source: str,
    limit: int = 20,
) -> list[CustomerComment]:
    """The newest text answers of customers on these steps (`source` invited or unsolicited)."""
    step_ids = [catalog.steps[key].id for key in step_keys]
    if not step_ids:
        return []
    # The newest responses first through the submitted_at index, then their text answers:
    # the cost stays that of `limit` responses however many are stored.
    sql = (
        'SELECT r."id" AS "response", r."step" AS "step", r."submitted_at" AS "submitted_at", '  # noqa: S608
        'a."question" AS "question", a."text" AS "text" '
        'FROM "response" r JOIN "answer" a ON a."response" = r."id" '
        'WHERE r."submitted_at" >= {} AND r."submitted_at" < {} AND r."source" = {} '
        f'AND r."step" IN ({_placeholders(step_ids)}) '
        'AND a."text" IS NOT NULL AND a."text" <> \'\' '
        'ORDER BY r."submitted_at" DESC, r."id" DESC LIMIT {}'
    )
    rows = await Tally.raw(
        sql,
        day_start(start),
        day_start(end + timedelta(days=1)),
        source,
        *step_ids,
        limit,
    )
    by_id = {info.id: info for info in catalog.steps.values()}
    return [
        CustomerComment(
            step=by_id[row["step"]].key,
            step_name=by_id[row["step"]].name,
            question=catalog.text_questions.get(row["question"], ("", ""))[1],
            submitted_at=_aware(row["submitted_at"]),
            text=row["text"],
        )
        for row in rows
    ]


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def employee_comments(step_id: int, round_id: int) -> list[str]:
    """The comments employees left on one step in one round, without who or when (sorted)."""
    rows = await SelfRating.select(SelfRating.comment).where(
        (SelfRating.step == step_id)
        & (SelfRating.round == round_id)
        & SelfRating.comment.is_not_null()
    )
    # Sorted by text, so the order says nothing about who answered first.
    return sorted(r["comment"] for r in rows if r["comment"] and r["comment"].strip())


async def open_follow_ups(department_id: int, *, limit: int = 20) -> tuple[int, list[FollowUpRow]]:
    """How many follow-ups of a department are not closed, and the oldest of them."""
    where = (FollowUp.department == department_id) & (FollowUp.status != "closed")
    total = await FollowUp.count().where(where)
    rows = await (
        FollowUp.select(
            FollowUp.id,
            FollowUp.status,
            FollowUp.score,
            FollowUp.created_at,
            FollowUp.step.key.as_alias("step"),
            FollowUp.step.name.as_alias("step_name"),
            FollowUp.question.key.as_alias("question"),
        )
        .where(where)
        .order_by(FollowUp.created_at)
        .limit(limit)
    )
    return total, [FollowUpRow(**row) for row in rows]


async def response_pages(
    catalog: Catalog,
    step_keys: Sequence[str],
    start: date,
    end: date,
    *,
    segments: Sequence[tuple[str, str]] = (),
    page_size: int = 2000,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Raw customer responses of these steps, one row per answer, a page at a time (by id).

    Rows carry the response's id, time, source, department, journey, step, the question's key
    and kind, the score, choice or text as stored (not mirrored), and a `segment.<name>` entry
    per segment attribute. Employee ratings are never read here.
    """
    step_ids = [catalog.steps[key].id for key in step_keys]
    if not step_ids:
        return
    by_id = {info.id: info for info in catalog.steps.values()}
    questions = {
        row["id"]: (row["key"], row["kind"])
        for row in await Question.select(Question.id, Question.key, Question.kind).where(
            Question.survey.step.is_in(step_ids)
        )
    }
    exists = " ".join(
        'AND EXISTS (SELECT 1 FROM "response_segment" s WHERE s."response" = r."id" '
        'AND s."name" = {} AND s."value" = {})'
        for _ in segments
    )
    sql = (
        'SELECT r."id" AS "id", r."step" AS "step", r."source" AS "source", '  # noqa: S608
        'r."submitted_at" AS "submitted_at" FROM "response" r '
        'WHERE r."id" > {} AND r."submitted_at" >= {} AND r."submitted_at" < {} '
        f'AND r."step" IN ({_placeholders(step_ids)}) {exists} '
        'ORDER BY r."id" LIMIT {}'
    )
    segment_args = [part for pair in segments for part in pair]
    after = 0
    while True:
        responses = await Tally.raw(
            sql,
            after,
            day_start(start),
            day_start(end + timedelta(days=1)),
            *step_ids,
            *segment_args,
            page_size,
        )
        if not responses:
            return
        ids = [r["id"] for r in responses]
        after = ids[-1]
        answers = await Answer.select(
            Answer.response, Answer.question, Answer.score, Answer.choice, Answer.text
        ).where(Answer.response.is_in(ids))
        tags: dict[int, dict[str, str]] = {}
        for row in await ResponseSegment.select(
            ResponseSegment.response, ResponseSegment.name, ResponseSegment.value
        ).where(ResponseSegment.response.is_in(ids)):
            tags.setdefault(row["response"], {})[f"segment.{row['name']}"] = row["value"]
        by_response: dict[int, list[dict[str, Any]]] = {}
        for answer in answers:
            by_response.setdefault(answer["response"], []).append(answer)
        page = []
        for response in responses:
            step = by_id[response["step"]]
            for answer in sorted(by_response.get(response["id"], []), key=lambda a: a["question"]):
                key, kind = questions.get(answer["question"], ("", ""))
                page.append(
                    {
                        "response_id": response["id"],
                        "submitted_at": _aware(response["submitted_at"]),
                        "source": response["source"],
                        "department": step.department,
                        "journey": step.journey,
                        "step": step.key,
                        "question": key,
                        "kind": kind,
                        "score": answer["score"],
                        "choice": answer["choice"],
                        "text": answer["text"],
                    }
                    | tags.get(response["id"], {})
                )
        yield page


async def comment_counts(
    catalog: Catalog, step_keys: Sequence[str], start: date, end: date
) -> dict[str, int]:
    """How many text answers invited customers left on each of these steps in start…end."""
    step_ids = [catalog.steps[key].id for key in step_keys]
    if not step_ids:
        return {}
    sql = (
        'SELECT r."step" AS "step", COUNT(*) AS "n" '  # noqa: S608
        'FROM "response" r JOIN "answer" a ON a."response" = r."id" '
        'WHERE r."submitted_at" >= {} AND r."submitted_at" < {} AND r."source" = {} '
        f'AND r."step" IN ({_placeholders(step_ids)}) '
        'AND a."text" IS NOT NULL AND a."text" <> \'\' '
        'GROUP BY r."step"'
    )
    rows = await Tally.raw(
        sql, day_start(start), day_start(end + timedelta(days=1)), "invited", *step_ids
    )
    by_id = {info.id: key for key, info in catalog.steps.items()}
    return {by_id[row["step"]]: int(row["n"]) for row in rows}


async def open_follow_ups_by_step(catalog: Catalog, step_keys: Sequence[str]) -> dict[str, int]:
    """How many follow-ups on each of these steps are not closed yet."""
    step_ids = [catalog.steps[key].id for key in step_keys]
    if not step_ids:
        return {}
    rows = await (
        FollowUp.select(FollowUp.step, Count(alias="n"))
        .where(FollowUp.step.is_in(step_ids) & (FollowUp.status != "closed"))
        .group_by(FollowUp.step)
    )
    by_id = {info.id: key for key, info in catalog.steps.items()}
    return {by_id[row["step"]]: int(row["n"]) for row in rows if row["step"] in by_id}


# The one place that says which column tells one rater's answers from another's: the round's
# pseudonym, written when the round is anonymised (only anonymised rounds are read). Its values
# only group a rater's answers inside the statistics; they never leave the server.
RATER_KEY = "rater"

RATER_SCHEMA: dict[str, Any] = {
    "department": pl.String,
    "step": pl.String,
    "question": pl.String,
    "round_id": pl.Int64,
    "rater": pl.String,
    "level": pl.Int64,
}


async def rater_levels(
    catalog: Catalog, cells: Sequence[tuple[str, str, str]], round_ids: Iterable[int]
) -> pl.DataFrame:
    """Each rater's level per cell in these rounds (RATER_SCHEMA), oriented higher-is-better.

    The rater-level read behind pooled department and organisation gaps: one rater's answers
    on several steps move together, so their uncertainty is taken rater by rater.
    """
    ids = sorted(set(round_ids))
    cell_of: dict[int, tuple[tuple[str, str, str], QuestionInfo]] = {}
    for department, step, key in cells:
        info = catalog.questions[(step, key)]
        for question_id in info.ids:
            cell_of[question_id] = ((department, step, key), info)
    if not ids or not cell_of:
        return pl.DataFrame(schema=RATER_SCHEMA)
    rating = SelfRatingScore.rating
    rows = await SelfRatingScore.select(
        rating.round.as_alias("round_id"),
        getattr(rating, RATER_KEY).as_alias("rater"),
        SelfRatingScore.question,
        SelfRatingScore.score,
    ).where(
        rating.round.is_in(ids)
        & SelfRatingScore.question.is_in(list(cell_of))
        & getattr(rating, RATER_KEY).is_not_null()
    )
    found = []
    for row in rows:
        (department, step, key), info = cell_of[row["question"]]
        level = row["score"] if info.higher_is_better else info.low + info.high - row["score"]
        found.append((department, step, key, row["round_id"], str(row["rater"]), level))
    return pl.DataFrame(found, schema=RATER_SCHEMA, orient="row")


async def invited_counts(round_ids: Iterable[int]) -> dict[tuple[int, str], int]:
    """How many employees each round invited, per department: {(round id, department key): n}."""
    ids = sorted(set(round_ids))
    if not ids:
        return {}
    rows = await (
        RoundInvitee.select(
            RoundInvitee.round, RoundInvitee.department.key.as_alias("department"), Count()
        )
        .where(RoundInvitee.round.is_in(ids))
        .group_by(RoundInvitee.round, RoundInvitee.department.key)
    )
    return {(row["round"], row["department"]): int(row["count"]) for row in rows}
