"""The perception-gap views executives read: the organisation, a department, the gap table.

How the numbers are made (the statistics themselves live in `dashboards.stats`):

- Customers: the invited responses of the chosen days (unsolicited feedback is shown apart and
  never enters a gap). Employees: for each department, one rating round — the latest that ended
  by the last day of the view (when none ended inside the view, the one before it, and the page
  says so), and only rounds that have ended at the time of the request and been anonymised
  (`dashboards.suppression`): an open round shows participation counts only. Ratings are never
  pooled across rounds, so each rater counts once.
- Anonymity (`surveys.anonymity`, decided per round in `dashboards.suppression`): a cell (a step's
  rating question) shows employee numbers only when at least the threshold of employees of that
  round rated it; complementary suppression hides the next smallest cells of the department
  too, and a department hidden among the round's departments hides all its cells. The decision
  is made once per round over the whole organisation, so every filtered view hides the same
  cells. Hidden employee ratings are removed *before* any statistic is computed, so nothing
  derived from them (gap, interval, p-value, effect, distribution, trend, planning hint, pooled
  score) can show. A cell nobody rated is empty, not hidden.
- A department's gap and the organisation's headline are weighted means of their shown cells'
  gaps (each cell on 0–100 points, weights its share of the view's customer responses, the same
  on both sides), with an interval taken rater by rater from the round's pseudonymous ratings
  (`dashboards.gap_tables`, `dashboards.stats.pooled_gap`). The headline covers the shown
  departments only, so it reveals nothing about a hidden one.
- q-values are Benjamini–Hochberg over families fixed by the view, not the page: every shown
  cell of the organisation in the view (same period and filters), the departments, the trends.
  A cell's q is the same on the overview, its department's page, the API and the exports.
- Every gap carries one verdict from one rule (`dashboards.stats.verdicts`).
- Trends: per week or month, customers of that period against the round that speaks for the
  period's last day, gap as a plain difference of means (Welch's standard error), then the
  Theil–Sen slope in points per period (`dashboards.trend_points`).

Every row a view gives is typed (`dashboards.rows`): pages, charts, Where to act, the report
and the API read fields, never a frame's column names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from dashboards import stats
from dashboards.cell_details import cell_details
from dashboards.employee_side import EmployeeSide, employee_side
from dashboards.filters import Filters, Period
from dashboards.gap_tables import (
    CELL_KEYS,
    NO_CUSTOMERS,
    Cell,
    cell_table,
    department_table,
    organisation_gap,
)
from dashboards.queries import (
    Catalog,
    DepartmentInfo,
    employee_comments,
    invited_counts,
    load_catalog,
    open_follow_ups,
    rater_levels,
    read_counts,
    recent_comments,
    rounds_named,
)
from dashboards.rows import (
    CellDetails,
    CellGap,
    Change,
    CustomerComment,
    DepartmentGap,
    DepartmentRow,
    FollowUpRow,
    GapFigures,
    RoundLabel,
    StepComments,
    TrendPoint,
    extend,
    read_rows,
)
from dashboards.suppression import EmployeeBook, employee_book
from dashboards.trend_points import complete_through_of, period_gaps, trends
from surveys.anonymity import comments_reason, describe
from surveys.errors import Invalid, NotFound

# --- views ------------------------------------------------------------------------------------


def scope_cells(catalog: Catalog, filters: Filters, department: str | None) -> list[Cell]:
    """The rating cells of a view's journey; an unknown journey or department is refused."""
    if filters.journey is not None and filters.journey not in catalog.journeys:
        raise Invalid(f"there is no journey {filters.journey!r}", field="journey")
    if department is not None and department not in catalog.departments:
        raise NotFound(f"there is no department {department!r}", field="department")
    return catalog.cells(journey=filters.journey)


async def read_view(
    catalog: Catalog, cells: Sequence[Cell], filters: Filters, periods: Sequence[Period]
) -> pl.DataFrame:
    """The counts of a view: customers per trend period, employees of rounds ending by its end."""
    return await read_counts(
        catalog,
        cells,
        filters.start,
        filters.end,
        segments=filters.segments,
        buckets=[(p.start, p.end) for p in periods],
    )


@dataclass(frozen=True)
class ViewBasis:
    """What a view read once: its counts, the employee side and book, the organisation's cells."""

    counts: pl.DataFrame
    side: EmployeeSide
    book: EmployeeBook
    cells: list[Cell]
    catalog: Catalog


@dataclass
class Overview:
    """The organisation overview: the headline and every department sorted by gap."""

    filters: Filters
    headline: GapFigures | None
    hidden_departments: int
    departments: list[DepartmentRow]
    periods: list[Period]
    journeys: dict[str, str]
    department_links: list[tuple[str, str]]


async def overview(
    filters: Filters, *, threshold: int, verdict_min_raters: int = stats.VERDICT_MIN_RATERS
) -> tuple[Overview, ViewBasis]:
    """The org overview of a view (headline, department rows with trend points), and what it
    read, for Where to act to rank the cells of (never for a page: it holds hidden counts)."""
    catalog = await load_catalog()
    cells = scope_cells(catalog, filters, None)
    periods = filters.periods()
    counts = await read_view(catalog, cells, filters, periods)
    book = await employee_book(catalog, threshold=threshold, now=filters.now)
    rules = {"threshold": threshold, "verdict_min_raters": verdict_min_raters}
    side = employee_side(counts, cells, filters.end, threshold, book=book)
    raters = await rater_levels(catalog, cells, side.rounds.values())
    table = department_table(counts, raters, side, cells, filters.start, filters.end, **rules)
    headline = organisation_gap(counts, raters, side, cells, filters.start, filters.end, **rules)
    points = period_gaps(
        counts,
        cells,
        periods,
        by=["department"],
        threshold=threshold,
        book=book,
        complete_through=complete_through_of(filters),
    )
    slopes = trends(points, ["department"])
    before = await _comparison(catalog, cells, filters, rules, book=book, pooled=True)
    names = await rounds_named(side.rounds.values())
    rows = []
    for row in read_rows(DepartmentGap, table):
        key = row.department
        round_info = names.get(side.rounds.get(key, -1))
        rows.append(
            extend(
                row,
                DepartmentRow,
                name=catalog.departments[key].name,
                raters=None
                if row.suppression not in (None, NO_CUSTOMERS)
                else side.department_raters.get(key, 0),
                round=round_info,
                round_before_view=round_info is not None and round_info.ends < filters.start,
                trend=read_rows(TrendPoint, points.filter(pl.col("department") == key)),
                slope=slopes.get(key),
                change=_change(before.get(key), row, side.rounds.get(key)),
            )
        )
    rows.sort(key=lambda r: (r.gap is None, -(r.gap or 0.0), r.name))
    hidden = sum(1 for d in side.department_reasons.values() if d is not None)
    links = [(k, d.name) for k, d in catalog.departments.items()]
    view = Overview(filters, headline, hidden, rows, periods, catalog.journeys, links)
    return view, ViewBasis(counts, side, book, list(cells), catalog)


async def _comparison(
    catalog: Catalog,
    cells: Sequence[Cell],
    filters: Filters,
    rules: dict[str, int],
    *,
    book: EmployeeBook,
    pooled: bool,
) -> dict[Any, tuple[GapFigures, int | None]]:
    """The gaps of the comparison period (its own round as of its end), keyed like the rows,
    each with the round its employee side came from."""
    if not filters.compare:
        return {}
    first, last = filters.compare
    counts = await read_counts(catalog, cells, first, last, segments=filters.segments)
    side = employee_side(counts, cells, last, rules["threshold"], book=book)
    if pooled:
        raters = await rater_levels(catalog, cells, side.rounds.values())
        table = department_table(counts, raters, side, cells, first, last, **rules)
        return {
            row.department: (row, side.rounds.get(row.department))
            for row in read_rows(DepartmentGap, table)
        }
    table = cell_table(counts, side, cells, first, last, **rules)
    return {row.cell: (row, side.rounds.get(row.department)) for row in read_rows(CellGap, table)}


def _change(
    compared: tuple[GapFigures, int | None] | None, after: GapFigures, round_id: int | None
) -> Change | None:
    """Change of a gap against the comparison period, tested by Δ/√(SE₁² + SE₂²).

    When both periods read the same round, the employee side is the same ratings: only the
    customers moved, so only their standard errors enter (counting the employees' error twice
    would hide a real change).
    """
    if compared is None:
        return None
    before, before_round = compared
    if before.gap is None or after.gap is None:
        return None
    shared = round_id is not None and before_round == round_id
    if shared:
        before_error, after_error = before.customer_standard_error, after.customer_standard_error
    else:
        before_error, after_error = before.standard_error, after.standard_error
    if before_error is None or after_error is None:
        return None
    change = stats.gap_change(before.gap, before_error, after.gap, after_error)
    return Change(before.gap, change.difference, change.pvalue)


@dataclass
class DepartmentView:
    """Everything on a department's page."""

    filters: Filters
    department: DepartmentInfo
    summary: DepartmentGap | None
    round: RoundLabel | None
    round_before_view: bool
    cells: list[CellDetails]
    points: list[TrendPoint]
    customer_comments: list[CustomerComment]
    unsolicited_comments: list[CustomerComment]
    employee_comments: list[StepComments]
    follow_ups_open: int
    follow_ups: list[FollowUpRow]
    periods: list[Period] = field(default_factory=list)
    journeys: dict[str, str] = field(default_factory=dict)
    department_links: list[tuple[str, str]] = field(default_factory=list)


async def department_view(
    key: str,
    filters: Filters,
    *,
    threshold: int,
    comment_threshold: int,
    verdict_min_raters: int = stats.VERDICT_MIN_RATERS,
) -> DepartmentView:
    """A department's page: its cells with gaps, trends, distributions, comments, follow-ups."""
    catalog = await load_catalog()
    all_cells = scope_cells(catalog, filters, key)
    cells = [c for c in all_cells if c[0] == key]
    periods = filters.periods()
    # Anonymity needs every department's employee counts (a department can be hidden among the
    # departments), and the summary row is the overview's, so every department is read.
    counts = await read_view(catalog, all_cells, filters, periods)
    book = await employee_book(catalog, threshold=threshold, now=filters.now)
    side = employee_side(counts, all_cells, filters.end, threshold, book=book)
    rules = {"threshold": threshold, "verdict_min_raters": verdict_min_raters}
    raters = await rater_levels(catalog, all_cells, side.rounds.values())
    summary_table = department_table(
        counts, raters, side, all_cells, filters.start, filters.end, **rules
    )
    summary = next(
        (r for r in read_rows(DepartmentGap, summary_table) if r.department == key), None
    )
    # The cells' family is the organisation's cells of the view, so q matches the overview's.
    table = cell_table(counts, side, cells, filters.start, filters.end, family=all_cells, **rules)
    full_counts = counts
    counts = counts.filter((pl.col("source") == "employee") | pl.col("department").eq(key))
    # Every cell's trend is computed: the trend tests of the view are one BH family.
    points = period_gaps(
        full_counts,
        all_cells,
        periods,
        by=CELL_KEYS,
        threshold=threshold,
        book=book,
        complete_through=complete_through_of(filters),
    )
    slopes = trends(points, CELL_KEYS)
    points = points.filter(pl.col("department") == key)
    before = await _comparison(catalog, all_cells, filters, rules, book=book, pooled=False)
    view_counts = counts.filter(pl.col("day").is_between(filters.start, filters.end))
    round_id = side.rounds.get(key)
    names = await rounds_named([round_id] if round_id is not None else [])
    round_info = names.get(round_id) if round_id is not None else None
    invited = {
        r: n
        for (r, department), n in (await invited_counts([round_id] if round_id else [])).items()
        if department == key
    }
    rows = [
        cell_details(
            catalog,
            row,
            counts,
            view_counts,
            side,
            invited=invited.get(round_id),
            slope=slopes.get(row.cell),
            change=_change(before.get(row.cell), row, round_id),
        )
        for row in read_rows(CellGap, table)
    ]
    total, follow_ups = await open_follow_ups(catalog.departments[key].id)
    step_keys = list(dict.fromkeys(c[1] for c in cells))
    return DepartmentView(
        filters=filters,
        department=catalog.departments[key],
        summary=summary,
        round=round_info,
        round_before_view=round_info is not None and round_info.ends < filters.start,
        cells=rows,
        points=read_rows(TrendPoint, points),
        customer_comments=await recent_comments(
            catalog, step_keys, filters.start, filters.end, source="invited"
        ),
        unsolicited_comments=await recent_comments(
            catalog, step_keys, filters.start, filters.end, source="unsolicited"
        ),
        employee_comments=await _employee_comments(
            catalog, step_keys, side, key, threshold, comment_threshold
        ),
        follow_ups_open=total,
        follow_ups=follow_ups,
        periods=periods,
        journeys=catalog.journeys,
        department_links=[(k, d.name) for k, d in catalog.departments.items()],
    )


async def _employee_comments(
    catalog: Catalog,
    step_keys: Sequence[str],
    side: EmployeeSide,
    department: str,
    threshold: int,
    comment_threshold: int,
) -> list[StepComments]:
    """Employee comments per step, only where the step is shown and enough employees rated it."""
    found = []
    round_id = side.rounds.get(department)
    for step_key in step_keys:
        cells = [c for c in side.raters if c[0] == department and c[1] == step_key]
        raters = max((side.raters[c] for c in cells), default=0)
        if raters == 0 or round_id is None:
            continue
        reason = next((side.cell_reasons[c] for c in cells if side.cell_reasons[c]), None)
        if reason is None:
            reason = comments_reason(
                raters, comment_threshold=comment_threshold, threshold=threshold
            )
        step = catalog.steps[step_key]
        if reason is not None:
            words = describe(reason, threshold=threshold, comment_threshold=comment_threshold)
            found.append(StepComments(step_key, step.name, [], words))
        else:
            comments = await employee_comments(step.id, round_id)
            found.append(StepComments(step_key, step.name, comments, None))
    return found


async def gap_rows(
    filters: Filters, *, threshold: int, verdict_min_raters: int = stats.VERDICT_MIN_RATERS
) -> pl.DataFrame:
    """The API's gap table: department × step × rating question, every row with its verdict.

    One BH family: the organisation's cells of the view, whatever department is asked for.
    """
    catalog = await load_catalog()
    all_cells = scope_cells(catalog, filters, filters.department)
    cells = [c for c in all_cells if filters.department in (None, c[0])]
    counts = await read_counts(
        catalog, all_cells, filters.start, filters.end, segments=filters.segments
    )
    book = await employee_book(catalog, threshold=threshold, now=filters.now)
    side = employee_side(counts, all_cells, filters.end, threshold, book=book)
    table = cell_table(
        counts,
        side,
        cells,
        filters.start,
        filters.end,
        threshold=threshold,
        verdict_min_raters=verdict_min_raters,
        family=all_cells,
    )
    journeys = {c: catalog.steps[c[1]].journey for c in cells}
    kinds = {c: catalog.questions[(c[1], c[2])].kind for c in cells}
    return table.with_columns(
        journey=pl.Series([journeys[c] for c in cells], dtype=pl.String),
        kind=pl.Series([kinds[c] for c in cells], dtype=pl.String),
    )
