"""Closing a rating round severs every rating from its employee, for good.

While a round is open, a rating carries its author's id, so the author can see, change and
erase it. When the round ends, each rating of the round is rewritten:

- `employee` becomes NULL and `rater` a random pseudonym drawn per rater and round (128 bits from
  `secrets`), so one rater's ratings of the round still group together (rater-level statistics
  need that) but nothing leads back to a person; the mapping is never stored;
- the rows are written again in a random order with fresh ids, and their times set to the
  round's end, so neither row order nor timestamps can be matched to logins or mail logs;
- scores, comments and tallies are unchanged: published figures stay what they were, and since
  nothing links a rating to a person any more, no later erasure or account change can move them.

Rounds end by time, not by an event, so `anonymise_ended_rounds` is idempotent and cheap when
there is nothing to do: the worker runs it on every pass, and every read of employee figures or
of an employee's own ratings runs it first. A round's row is claimed with an UPDATE before its
ratings are touched, so two processes never rewrite one round twice.
"""

from __future__ import annotations

import random
import secrets
from datetime import datetime

from surveys.clock import Clock, system_clock
from surveys.tables import Round, SelfRating, SelfRatingScore
from surveys.transactions import write_transaction

PSEUDONYM_BYTES = 16

_DUE = (
    'SELECT "id" FROM "rating_round" WHERE "ends_at" <= {} AND ("anonymised_at" IS NULL '
    'OR EXISTS (SELECT 1 FROM "self_rating" WHERE "self_rating"."round" = "rating_round"."id" '
    'AND "self_rating"."employee" IS NOT NULL)) ORDER BY "id"'
)
_CLAIM = (
    'UPDATE "rating_round" SET "anonymised_at" = COALESCE("anonymised_at", {}) '
    'WHERE "id" = {} AND "ends_at" <= {} RETURNING "id"'
)


def new_pseudonym() -> str:
    """A random rater pseudonym: 32 hex characters, unrelated to any id."""
    return secrets.token_hex(PSEUDONYM_BYTES)


async def rounds_due(*, clock: Clock = system_clock) -> list[int]:
    """Ended rounds never marked anonymised, or still holding a rating linked to an employee."""
    rows = await Round.raw(_DUE, clock())
    return [row["id"] for row in rows]


async def anonymise_round(round_id: int, *, clock: Clock = system_clock) -> int:
    """Sever an ended round's ratings from their employees; returns how many were rewritten.

    Does nothing for a round that has not ended. Safe to run again, and concurrently.
    """
    now = clock()
    async with write_transaction():
        # The UPDATE takes the round's row lock first: a concurrent run waits here, then finds
        # no linked rating left.
        claimed = await Round.raw(_CLAIM, now, round_id, now)
        if not claimed:
            return 0
        row = await Round.select(Round.ends_at).where(Round.id == round_id).first()
        ends_at: datetime = row["ends_at"]
        ratings = await SelfRating.select(
            SelfRating.id,
            SelfRating.step,
            SelfRating.employee,
            SelfRating.department,
            SelfRating.comment,
        ).where((SelfRating.round == round_id) & SelfRating.employee.is_not_null())
        if not ratings:
            return 0
        scores: dict[int, list[tuple[int, int]]] = {}
        for row in await SelfRatingScore.select(
            SelfRatingScore.rating, SelfRatingScore.question, SelfRatingScore.score
        ).where(SelfRatingScore.rating.is_in([r["id"] for r in ratings])):
            scores.setdefault(row["rating"], []).append((row["question"], row["score"]))
        pseudonyms = {employee: new_pseudonym() for employee in {r["employee"] for r in ratings}}
        await SelfRating.delete().where(SelfRating.id.is_in([r["id"] for r in ratings]))
        random.SystemRandom().shuffle(ratings)
        for rating in ratings:
            created = await SelfRating.insert(
                SelfRating(
                    round=round_id,
                    step=rating["step"],
                    employee=None,
                    rater=pseudonyms[rating["employee"]],
                    department=rating["department"],
                    comment=rating["comment"],
                    created_at=ends_at,
                    updated_at=ends_at,
                )
            ).returning(SelfRating.id)
            new_id = created[0]["id"]
            for question, score in sorted(scores.get(rating["id"], [])):
                await SelfRatingScore.insert(
                    SelfRatingScore(rating=new_id, question=question, score=score)
                )
    return len(ratings)


async def anonymise_ended_rounds(*, clock: Clock = system_clock) -> int:
    """Anonymise every round that has ended and is not yet; returns how many ratings changed."""
    changed = 0
    for round_id in await rounds_due(clock=clock):
        changed += await anonymise_round(round_id, clock=clock)
    return changed
