"""Which employee figures may be read at all: ended, anonymised rounds, each suppressed once.

Every view (any journey, period, segment, comparison, export or report) takes its employee side
from one `EmployeeBook`, so what is hidden never depends on the filters:

- only rounds that have ended at the time of the request and been anonymised are in the book
  (`surveys.anonymisation` runs first, so a round that ended a moment ago is included); an open
  round is never read, whatever `to` says, so nobody can watch a figure move as someone rates;
- each round's suppression is decided once, on the whole organisation's hierarchy: its
  departments among themselves (each with its exact number of distinct raters, from the
  pseudonyms) and every rating cell of every journey within its department
  (`surveys.anonymity.suppress_hierarchy`, complementary suppression included). A view looks
  its cells' reasons up here, so a cell hidden in the unfiltered view is hidden in every
  filtered one, and a journey filter cannot undo a complementary suppression.

Pooled department and organisation scores are made from shown cells only (`dashboards.gaps`),
so every published employee figure is a function of the level counts of shown cells, each of at
least the threshold's raters: no difference of two views isolates fewer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from dashboards.queries import Catalog
from surveys.anonymisation import anonymise_ended_rounds
from surveys.anonymity import SuppressionReason, effective_threshold, suppress_hierarchy
from surveys.clock import Clock, system_clock
from surveys.tables import Round, SelfRating, Tally

Cell = tuple[str, str, str]  # (department, step, question) keys


@dataclass(frozen=True)
class RoundDecision:
    """One closed round's raters and what anonymity hides in it, over the whole organisation."""

    round_id: int
    ends: date
    raters: Mapping[Cell, int]  # distinct raters of every rated cell
    department_raters: Mapping[str, int]  # distinct raters of each department
    department_reasons: Mapping[str, SuppressionReason | None]
    cell_reasons: Mapping[Cell, SuppressionReason | None]


@dataclass(frozen=True)
class EmployeeBook:
    """The rounds employee figures may come from, as of one moment, with their decisions."""

    threshold: int  # the effective threshold the decisions were made with
    rounds: Mapping[int, RoundDecision]

    def readable(self, round_id: int) -> bool:
        """Whether this round has ended and been anonymised (only such rounds are read)."""
        return round_id in self.rounds


def decide_round(
    round_id: int,
    ends: date,
    raters: Mapping[Cell, int],
    department_raters: Mapping[str, int],
    *,
    threshold: int,
) -> RoundDecision:
    """Suppress one round's departments among themselves and each department's cells within it.

    `raters`: every rated cell of the organisation in this round; `department_raters`: each
    department's distinct raters (not the sum of its cells: one rater rates several steps).
    """
    children: dict[str, dict[tuple[str, str], int]] = {}
    for (department, step, question), n in raters.items():
        children.setdefault(department, {})[(step, question)] = n
    # A department has at least as many raters as its most-rated cell, whatever was counted.
    parents = {
        d: max(department_raters.get(d, 0), *cells.values()) for d, cells in children.items()
    }
    parent_reasons, child_reasons = suppress_hierarchy(parents, children, threshold=threshold)
    return RoundDecision(
        round_id=round_id,
        ends=ends,
        raters=dict(raters),
        department_raters=parents,
        department_reasons=parent_reasons,
        cell_reasons={(d, s, q): reason for (d, (s, q)), reason in child_reasons.items()},
    )


async def _cell_raters(catalog: Catalog, round_ids: list[int]) -> dict[int, dict[Cell, int]]:
    """Raters per cell of each round: the sum of its tally (one answer per rater and question)."""
    cell_of_question: dict[int, Cell] = {}
    for (step, key), question in catalog.questions.items():
        for question_id in question.ids:
            cell_of_question[question_id] = (catalog.steps[step].department, step, key)
    marks = ", ".join("{}" for _ in round_ids)
    rows = await Tally.raw(
        'SELECT "round_id", "question", SUM("count") AS "count" FROM "tally" '  # noqa: S608
        f'WHERE "source" = \'employee\' AND "round_id" IN ({marks}) '
        'GROUP BY "round_id", "question"',
        *round_ids,
    )
    found: dict[int, dict[Cell, int]] = {}
    for row in rows:
        cell = cell_of_question.get(row["question"])
        if cell is None or not row["count"]:
            continue
        cells = found.setdefault(row["round_id"], {})
        cells[cell] = cells.get(cell, 0) + int(row["count"])
    return {rid: {c: n for c, n in cells.items() if n > 0} for rid, cells in found.items()}


async def _department_raters(catalog: Catalog, round_ids: list[int]) -> dict[int, dict[str, int]]:
    """Distinct raters (pseudonyms) per department of each round, over the organisation's steps."""
    department_of = {info.id: key for key, info in catalog.departments.items()}
    steps = [step.id for step in catalog.steps.values()] or [0]
    rounds = ", ".join("{}" for _ in round_ids)
    marks = ", ".join("{}" for _ in steps)
    # Counted in the database: one row per round and department, however many ratings.
    rows = await SelfRating.raw(
        'SELECT r."round" AS "round", s."department" AS "department", '  # noqa: S608
        'COUNT(DISTINCT r."rater") AS "raters" FROM "self_rating" r '
        'JOIN "step" s ON s."id" = r."step" '
        f'WHERE r."round" IN ({rounds}) AND r."step" IN ({marks}) AND r."rater" IS NOT NULL '
        'GROUP BY r."round", s."department"',
        *round_ids,
        *steps,
    )
    found: dict[int, dict[str, int]] = {}
    for row in rows:
        if row["department"] in department_of:
            found.setdefault(row["round"], {})[department_of[row["department"]]] = int(
                row["raters"]
            )
    return found


async def employee_book(
    catalog: Catalog, *, threshold: int, now: datetime | None = None
) -> EmployeeBook:
    """Anonymise rounds that have ended by `now`, then decide suppression for each readable one.

    `now`: the moment of the request (the app's clock); None reads the system clock.
    """
    clock: Clock = system_clock if now is None else (lambda: now)
    await anonymise_ended_rounds(clock=clock)
    now = clock()
    rows = await Round.select(Round.id, Round.ends_at).where(
        Round.anonymised_at.is_not_null() & (Round.ends_at <= now)
    )
    ids = [row["id"] for row in rows]
    if not ids:
        return EmployeeBook(effective_threshold(threshold), {})
    cells = await _cell_raters(catalog, ids)
    departments = await _department_raters(catalog, ids)
    return EmployeeBook(
        threshold=effective_threshold(threshold),
        rounds={
            row["id"]: decide_round(
                row["id"],
                row["ends_at"].astimezone(UTC).date(),
                cells.get(row["id"], {}),
                departments.get(row["id"], {}),
                threshold=threshold,
            )
            for row in rows
        },
    )
