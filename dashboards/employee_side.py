"""Which rating round speaks for each department on a day, and what anonymity hides in it.

Only rounds that have ended and been anonymised are read (`dashboards.suppression` keeps them
in an `EmployeeBook`); ratings are never pooled across rounds, so each rater counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from dashboards.gap_tables import Cell
from dashboards.suppression import EmployeeBook
from surveys.anonymity import SuppressionReason, effective_threshold


@dataclass(frozen=True)
class EmployeeSide:
    """The round that speaks for each department as of a day, and what anonymity hides in it."""

    rounds: dict[str, int]
    raters: dict[Cell, int]
    department_raters: dict[str, int]
    department_reasons: dict[str, SuppressionReason | None]
    cell_reasons: dict[Cell, SuppressionReason | None]

    def cell_shown(self, cell: Cell) -> bool:
        """Whether a cell's employee numbers may be shown (rated, and not hidden)."""
        return self.raters.get(cell, 0) > 0 and self.cell_reasons.get(cell) is None

    def department_shown(self, department: str) -> bool:
        """Whether a department's pooled employee numbers may be shown."""
        return (
            self.department_raters.get(department, 0) > 0
            and self.department_reasons.get(department) is None
        )


def rounds_by_department(counts: pl.DataFrame) -> dict[str, list[tuple[date, int]]]:
    """Each department's rounds with employee ratings, as (end day, round id), oldest first."""
    rounds = (
        counts.filter(pl.col("source") == "employee")
        .select("department", "day", "round_id")
        .unique()
        .sort(["department", "day", "round_id"])
    )
    found: dict[str, list[tuple[date, int]]] = {}
    for department, day, round_id in rounds.iter_rows():
        found.setdefault(department, []).append((day, round_id))
    return found


def choose_rounds(
    counts: pl.DataFrame,
    as_of: date,
    *,
    book: EmployeeBook,
    rounds_read: dict[str, list[tuple[date, int]]] | None = None,
) -> dict[str, int]:
    """The round that speaks for each department on a day, among the book's (ended) rounds.

    The latest round that ended by `as_of`; when none had ended yet, the earliest one read
    (the caller reads rounds ending by the view's last day only, so never a later one).
    `rounds_read`: `rounds_by_department(counts)` when the caller already has it.
    """
    chosen = {}
    for department, found in (rounds_read or rounds_by_department(counts)).items():
        rounds = [r for r in found if book.readable(r[1])]
        if not rounds:
            continue
        past = [r for r in rounds if r[0] <= as_of]
        chosen[department] = (past[-1] if past else rounds[0])[1]
    return chosen


def employee_side(
    counts: pl.DataFrame,
    cells: Sequence[Cell],
    as_of: date,
    threshold: int,
    *,
    book: EmployeeBook,
    rounds: dict[str, int] | None = None,
) -> EmployeeSide:
    """Pick each department's round as of a day (or take `rounds`); anonymity from the book.

    What is hidden was decided once per round on the whole organisation
    (`dashboards.suppression`); `cells` only says which of it this view shows.
    """
    if effective_threshold(threshold) != book.threshold:
        raise ValueError("the book was decided with another anonymity threshold")
    if rounds is None:
        rounds = choose_rounds(counts, as_of, book=book)
    decisions = {d: book.rounds[r] for d, r in rounds.items() if book.readable(r)}
    departments = dict.fromkeys(c[0] for c in cells)
    raters, cell_reasons = {}, {}
    for cell in cells:
        decision = decisions.get(cell[0])
        raters[cell] = decision.raters.get(cell, 0) if decision else 0
        cell_reasons[cell] = decision.cell_reasons.get(cell) if decision else None
    return EmployeeSide(
        rounds={d: decisions[d].round_id for d in departments if d in decisions},
        raters=raters,
        department_raters={
            d: decisions[d].department_raters.get(d, 0) if d in decisions else 0
            for d in departments
        },
        department_reasons={
            d: decisions[d].department_reasons.get(d) if d in decisions else None
            for d in departments
        },
        cell_reasons=cell_reasons,
    )
