"""Tallies: counts per step, question, source, round, day and level, kept as answers arrive.

Customer answers count on the day they were submitted (round_id 0); employee scores count in
their round, on the day the round ends, so one rater counts once per round.

Dashboards read only these, so their cost does not grow with the number of responses. Every
change goes through `add_counts` inside the transaction that stores or removes the answers.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from surveys.tables import Answer, SelfRatingScore, Tally

SOURCES = ("customer", "unsolicited", "employee")

# (step_id, question_id, source, round_id, day, level)
TallyKey = tuple[int, int, str, int, date, int]


def upsert_sql(rows: int) -> str:
    """The statement adding `rows` count changes, seven `{}` placeholders a row (TallyKey and
    the count); one row per key."""
    values = ", ".join(["({}, {}, {}, {}, {}, {}, {})"] * rows)
    columns = '"step", "question", "source", "round_id", "day", "level", "count"'
    return (
        f'INSERT INTO "tally" ({columns}) VALUES {values} '  # noqa: S608
        'ON CONFLICT ("question", "source", "round_id", "day", "level") '
        'DO UPDATE SET "count" = "tally"."count" + excluded."count"'
    )


def response_source(source: str) -> str:
    """The tally source of a customer response: invited responses count as 'customer'."""
    return "unsolicited" if source == "unsolicited" else "customer"


async def add_counts(changes: Counter[TallyKey]) -> None:
    """Add (or, with negative counts, subtract) counts; call inside the writing transaction."""
    rows = [(*key, count) for key, count in sorted(changes.items()) if count]
    # Chunks stay far below both engines' limits on a statement's parameters.
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        await Tally.raw(upsert_sql(len(chunk)), *(value for row in chunk for value in row))


async def recompute() -> Counter[TallyKey]:
    """Counts recomputed from the raw rows, to check the tallies against."""
    counts: Counter[TallyKey] = Counter()
    answers = await Answer.select(
        Answer.question,
        Answer.score,
        Answer.response.step.as_alias("step"),
        Answer.response.source.as_alias("source"),
        Answer.response.submitted_at.as_alias("submitted_at"),
    ).where(Answer.score.is_not_null())
    for row in answers:
        key = (
            row["step"],
            row["question"],
            response_source(row["source"]),
            0,
            row["submitted_at"].date(),
            row["score"],
        )
        counts[key] += 1
    scores = await SelfRatingScore.select(
        SelfRatingScore.question,
        SelfRatingScore.score,
        SelfRatingScore.rating.step.as_alias("step"),
        SelfRatingScore.rating.round.as_alias("round"),
        SelfRatingScore.rating.round.ends_at.as_alias("ends_at"),
    )
    for row in scores:
        key = (
            row["step"],
            row["question"],
            "employee",
            row["round"],
            row["ends_at"].date(),
            row["score"],
        )
        counts[key] += 1
    return +counts


async def stored() -> Counter[TallyKey]:
    """The tallies as stored, zero rows left out."""
    rows = await Tally.select().where(Tally.count != 0)
    return Counter(
        {
            (r["step"], r["question"], r["source"], r["round_id"], r["day"], r["level"]): r["count"]
            for r in rows
        }
    )
