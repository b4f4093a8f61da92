"""Where to act: the few steps worth working on first, each with what is behind it.

A step is a candidate when its gap can be shown (its employee ratings passed anonymity) and
employees rate it higher than customers do (a positive gap: the team thinks better of it than
customers). Candidates are ranked by, in order:

1. the verdict: a clear gap before one that is not yet clear;
2. the gap's weight: its size in points times the square root of the customers it touches
   (so a 20-point gap on 400 customers outranks a 25-point gap on 40);
3. its trend: a gap that is widening before one that is steady or closing.

Each item carries the comments behind it, its open follow-ups and one plain next step, which
names the raters as its reader does ("your team" to an employee, "employees" to executives and
admins: `dashboards.audience`). Hidden steps never become items, so nothing here depends on
ratings that anonymity hides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dashboards import gaps
from dashboards.audience import EMPLOYEES, TeamWords
from dashboards.employee_side import employee_side
from dashboards.filters import Filters
from dashboards.queries import (
    Catalog,
    comment_counts,
    load_catalog,
    open_follow_ups_by_step,
    recent_comments,
)
from dashboards.rows import CellGap, CellRow, GapFigures, Trend, extend, read_rows
from dashboards.suppression import employee_book
from dashboards.trend_points import complete_through_of, period_gaps, trends

LIMIT = 5
COMMENTS_SHOWN = 3
CLEAR = "clear"
NOT_YET_CLEAR = "not yet clear"


@dataclass(frozen=True)
class FocusComments:
    """What customers wrote on a step: how many comments, and the newest few."""

    count: int
    shown: tuple[str, ...]


@dataclass(frozen=True)
class FocusItem:
    """One step to act on: its gap, what is behind it, and the next step in words."""

    rank: int
    department: str
    department_name: str
    step: str
    step_name: str
    question: str
    wording: str
    customer_score: float
    employee_score: float
    gap: float
    gap_ci: tuple[float, float] | None
    verdict: str
    n_customers: int
    trend: str | None
    open_follow_ups: int
    comments: FocusComments
    next_step: str


def verdict_of(row: GapFigures) -> str:
    """The row's verdict: the statistics' own when they give one, else from the BH q-value."""
    if row.verdict:
        return row.verdict
    return CLEAR if row.qvalue is not None and row.qvalue < 0.05 else NOT_YET_CLEAR


def trend_words(slope: Trend | None, gap: float | None = None) -> str | None:
    """A trend in words: widening, closing or steady (None without a trend).

    A trend is clear when its Benjamini–Hochberg q-value over the view's trend tests is below
    0.05 (its p-value where no family was formed); closing means moving toward no gap.
    """
    if slope is None or slope.slope is None:
        return None
    q = slope.qvalue if slope.qvalue is not None else slope.pvalue
    if q is None or q >= 0.05:
        return "steady"
    rising = slope.slope > 0
    if gap is not None and gap < 0:
        return "closing" if rising else "widening"
    return "widening" if rising else "closing"


def weight(row: GapFigures) -> float:
    """A gap's weight for ranking: points times the square root of the customers it touches."""
    return float(row.gap or 0.0) * math.sqrt(max(row.n_customers or 0, 0))


def rank(rows: Sequence[CellRow], limit: int = LIMIT) -> list[CellRow]:
    """The candidates among cell rows, most pressing first (see the module's rules)."""
    candidates = [
        r for r in rows if r.gap is not None and r.gap > 0 and r.customer_score is not None
    ]
    order = {"widening": 0, "steady": 1, None: 1, "closing": 2}
    candidates.sort(
        key=lambda r: (
            verdict_of(r) != CLEAR,
            -weight(r),
            order.get(trend_words(r.slope, r.gap), 1),
        )
    )
    return candidates[:limit]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def next_step(
    *,
    department_name: str,
    step_name: str,
    customer_score: float,
    employee_score: float,
    verdict: str,
    trend: str | None,
    open_follow_ups: int,
    comments_count: int,
    team: TeamWords = EMPLOYEES,
) -> str:
    """One plain sentence: where, the two scores, and what to do first."""
    head = (
        f"{department_name}: {step_name} — customers {customer_score:.0f}, "
        f"{team.name} {employee_score:.0f}"
    )
    actions = []
    if open_follow_ups:
        actions.append(f"{_plural(open_follow_ups, 'open follow-up')} to answer")
    if comments_count:
        actions.append(f"read the {_plural(comments_count, 'customer comment')}")
    if verdict != CLEAR:
        actions.append("not yet clear: keep collecting answers before changing much")
    elif trend == "widening":
        actions.append("the gap is widening")
    elif trend == "closing":
        actions.append("the gap is closing: keep doing what changed")
    if not actions:
        actions.append("ask customers what they expected here")
    return f"{head}; {'; '.join(actions)}."


async def items(
    catalog: Catalog,
    rows: Sequence[CellRow],
    filters: Filters,
    *,
    limit: int = LIMIT,
    team: TeamWords = EMPLOYEES,
) -> list[FocusItem]:
    """The ranked items of cell rows, with their comments and open follow-ups read."""
    chosen = rank(rows, limit)
    steps = list(dict.fromkeys(r.step for r in chosen))
    counts = await comment_counts(catalog, steps, filters.start, filters.end)
    follow_ups = await open_follow_ups_by_step(catalog, steps)
    found = []
    for index, row in enumerate(chosen, start=1):
        step = catalog.steps[row.step]
        department = catalog.departments[row.department]
        shown = await recent_comments(
            catalog, [row.step], filters.start, filters.end, source="invited", limit=3
        )
        verdict = verdict_of(row)
        trend = trend_words(row.slope, row.gap)
        # rank() keeps rows with both scores and a gap only
        customer_score, employee_score = float(row.customer_score), float(row.employee_score)
        open_follow_ups = follow_ups.get(row.step, 0)
        comments = FocusComments(
            counts.get(row.step, 0), tuple(c.text for c in shown[:COMMENTS_SHOWN])
        )
        found.append(
            FocusItem(
                rank=index,
                department=row.department,
                department_name=department.name,
                step=row.step,
                step_name=step.name,
                question=row.question,
                wording=catalog.questions[(row.step, row.question)].wording,
                customer_score=customer_score,
                employee_score=employee_score,
                gap=float(row.gap),
                gap_ci=(row.gap_low, row.gap_high)
                if row.gap_low is not None and row.gap_high is not None
                else None,
                verdict=verdict,
                n_customers=row.n_customers or 0,
                trend=trend,
                open_follow_ups=open_follow_ups,
                comments=comments,
                next_step=next_step(
                    department_name=department.name,
                    step_name=step.name,
                    customer_score=customer_score,
                    employee_score=employee_score,
                    verdict=verdict,
                    trend=trend,
                    open_follow_ups=open_follow_ups,
                    comments_count=comments.count,
                    team=team,
                ),
            )
        )
    return found


def cell_rows(
    basis: gaps.ViewBasis, filters: Filters, rules: dict[str, int], department: str | None = None
) -> list[CellRow]:
    """The cell rows Where to act ranks, with their trends, as the department pages show them:
    the organisation's cells are the family of the q-values and of the trend tests."""
    cells = [c for c in basis.cells if department in (None, c[0])]
    table = gaps.cell_table(
        basis.counts, basis.side, cells, filters.start, filters.end, family=basis.cells, **rules
    )
    points = period_gaps(
        basis.counts,
        basis.cells,
        filters.periods(),
        by=gaps.CELL_KEYS,
        threshold=rules["threshold"],
        book=basis.book,
        complete_through=complete_through_of(filters),
    )
    slopes = trends(points, gaps.CELL_KEYS)
    return [extend(row, CellRow, slope=slopes.get(row.cell)) for row in read_rows(CellGap, table)]


async def focus(
    filters: Filters,
    *,
    threshold: int,
    verdict_min_raters: int,
    department: str | None = None,
    limit: int = LIMIT,
    team: TeamWords = EMPLOYEES,
) -> list[FocusItem]:
    """Where to act in a view: the organisation's steps, or one department's."""
    catalog = await load_catalog()
    cells = gaps.scope_cells(catalog, filters, department)
    counts = await gaps.read_view(catalog, cells, filters, filters.periods())
    book = await employee_book(catalog, threshold=threshold, now=filters.now)
    side = employee_side(counts, cells, filters.end, threshold, book=book)
    basis = gaps.ViewBasis(counts, side, book, list(cells), catalog)
    rules = {"threshold": threshold, "verdict_min_raters": verdict_min_raters}
    rows = cell_rows(basis, filters, rules, department)
    return await items(catalog, rows, filters, limit=limit, team=team)
