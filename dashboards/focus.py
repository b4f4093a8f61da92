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
from typing import Any

from dashboards import gaps
from dashboards.audience import EMPLOYEES, TeamWords
from dashboards.filters import Filters
from dashboards.queries import (
    Catalog,
    comment_counts,
    load_catalog,
    open_follow_ups_by_step,
    recent_comments,
)
from dashboards.suppression import employee_book

LIMIT = 5
COMMENTS_SHOWN = 3
CLEAR = "clear"
NOT_YET_CLEAR = "not yet clear"


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
    comments_count: int
    comments: tuple[str, ...]
    next_step: str

    def as_json(self) -> dict[str, Any]:
        """The API shape: `comments` as {count, shown}."""
        return {
            "rank": self.rank,
            "department": self.department,
            "department_name": self.department_name,
            "step": self.step,
            "step_name": self.step_name,
            "question": self.question,
            "wording": self.wording,
            "customer_score": self.customer_score,
            "employee_score": self.employee_score,
            "gap": self.gap,
            "gap_ci": list(self.gap_ci) if self.gap_ci else None,
            "verdict": self.verdict,
            "n_customers": self.n_customers,
            "trend": self.trend,
            "open_follow_ups": self.open_follow_ups,
            "comments": {"count": self.comments_count, "shown": list(self.comments)},
            "next_step": self.next_step,
        }


def verdict_of(row: dict[str, Any]) -> str:
    """The row's verdict: the statistics' own when they give one, else from the BH q-value."""
    given = row.get("verdict")
    if isinstance(given, str) and given:
        return given
    q = row.get("qvalue")
    return CLEAR if q is not None and q < 0.05 else NOT_YET_CLEAR


def trend_words(slope: dict[str, Any] | None, gap: float | None = None) -> str | None:
    """A trend in words: widening, closing or steady (None without a trend).

    A trend is clear when its Benjamini–Hochberg q-value over the view's trend tests is below
    0.05 (its p-value where no family was formed); closing means moving toward no gap.
    """
    if not slope or slope.get("slope") is None:
        return None
    q = slope.get("qvalue", slope.get("pvalue"))
    if q is None or q >= 0.05:
        return "steady"
    rising = slope["slope"] > 0
    if gap is not None and gap < 0:
        return "closing" if rising else "widening"
    return "widening" if rising else "closing"


def weight(row: dict[str, Any]) -> float:
    """A gap's weight for ranking: points times the square root of the customers it touches."""
    return float(row["gap"]) * math.sqrt(max(int(row.get("n_customers") or 0), 0))


def rank(rows: Sequence[dict[str, Any]], limit: int = LIMIT) -> list[dict[str, Any]]:
    """The candidates among cell rows, most pressing first (see the module's rules)."""
    candidates = [
        r
        for r in rows
        if r.get("gap") is not None and r["gap"] > 0 and r.get("customer_score") is not None
    ]
    order = {"widening": 0, "steady": 1, None: 1, "closing": 2}
    candidates.sort(
        key=lambda r: (
            verdict_of(r) != CLEAR,
            -weight(r),
            order.get(trend_words(r.get("slope"), r["gap"]), 1),
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
    rows: Sequence[dict[str, Any]],
    filters: Filters,
    *,
    limit: int = LIMIT,
    team: TeamWords = EMPLOYEES,
) -> list[FocusItem]:
    """The ranked items of cell rows, with their comments and open follow-ups read."""
    chosen = rank(rows, limit)
    steps = list(dict.fromkeys(r["step"] for r in chosen))
    counts = await comment_counts(catalog, steps, filters.start, filters.end)
    follow_ups = await open_follow_ups_by_step(catalog, steps)
    found = []
    for index, row in enumerate(chosen, start=1):
        step = catalog.steps[row["step"]]
        question = catalog.questions[(row["step"], row["question"])]
        department = catalog.departments[row["department"]]
        shown = await recent_comments(
            catalog, [row["step"]], filters.start, filters.end, source="invited", limit=3
        )
        verdict = verdict_of(row)
        trend = trend_words(row.get("slope"), row.get("gap"))
        low, high = row.get("gap_low"), row.get("gap_high")
        found.append(
            FocusItem(
                rank=index,
                department=row["department"],
                department_name=department.name,
                step=row["step"],
                step_name=step.name,
                question=row["question"],
                wording=question.wording,
                customer_score=row["customer_score"],
                employee_score=row["employee_score"],
                gap=row["gap"],
                gap_ci=(low, high) if low is not None and high is not None else None,
                verdict=verdict,
                n_customers=int(row.get("n_customers") or 0),
                trend=trend,
                open_follow_ups=follow_ups.get(row["step"], 0),
                comments_count=counts.get(row["step"], 0),
                comments=tuple(c["text"] for c in shown[:COMMENTS_SHOWN]),
                next_step=next_step(
                    department_name=department.name,
                    step_name=step.name,
                    customer_score=row["customer_score"],
                    employee_score=row["employee_score"],
                    verdict=verdict,
                    trend=trend,
                    open_follow_ups=follow_ups.get(row["step"], 0),
                    comments_count=counts.get(row["step"], 0),
                    team=team,
                ),
            )
        )
    return found


def cell_rows(
    basis: gaps.ViewBasis, filters: Filters, rules: dict[str, int], department: str | None = None
) -> list[dict[str, Any]]:
    """The cell rows Where to act ranks, with their trends, as the department pages show them:
    the organisation's cells are the family of the q-values and of the trend tests."""
    cells = [c for c in basis.cells if department in (None, c[0])]
    table = gaps.cell_table(
        basis.counts, basis.side, cells, filters.start, filters.end, family=basis.cells, **rules
    )
    points = gaps.period_gaps(
        basis.counts,
        basis.cells,
        filters.periods(),
        by=gaps.CELL_KEYS,
        threshold=rules["threshold"],
        book=basis.book,
        complete_through=gaps.complete_through_of(filters),
    )
    slopes = gaps.trends(points, gaps.CELL_KEYS)
    return [
        row | {"slope": slopes.get((row["department"], row["step"], row["question"]))}
        for row in table.iter_rows(named=True)
    ]


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
    side = gaps.employee_side(counts, cells, filters.end, threshold, book=book)
    basis = gaps.ViewBasis(counts, side, book, list(cells), catalog)
    rules = {"threshold": threshold, "verdict_min_raters": verdict_min_raters}
    rows = cell_rows(basis, filters, rules, department)
    return await items(catalog, rows, filters, limit=limit, team=team)
