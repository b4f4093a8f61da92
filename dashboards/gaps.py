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
  Theil–Sen slope in points per period.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
from scipy import special

from dashboards import stats
from dashboards.filters import Filters, Period
from dashboards.gap_tables import (
    CELL_KEYS,
    NO_CUSTOMERS,
    NO_EMPLOYEES,  # noqa: F401  (re-exported: the codes pages read)
    Cell,
    cell_table,
    department_table,
    gap_input,  # noqa: F401  (re-exported)
    organisation_gap,
    to_points,
)
from dashboards.queries import (
    Catalog,
    DepartmentInfo,
    RoundInfo,
    employee_comments,
    invited_counts,
    load_catalog,
    open_follow_ups,
    rater_levels,
    read_counts,
    recent_comments,
    rounds_named,
)
from dashboards.suppression import EmployeeBook, employee_book
from surveys.anonymity import (
    SuppressionReason,
    comments_reason,
    describe,
    effective_threshold,
)
from surveys.errors import Invalid, NotFound

TARGET_HALF_WIDTH = 5.0  # points: a gap known to ±5 is precise enough to act on


# --- which employee round speaks, and what anonymity hides -----------------------------------


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


def _rounds_by_department(counts: pl.DataFrame) -> dict[str, list[tuple[date, int]]]:
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
    known: dict[str, list[tuple[date, int]]] | None = None,
) -> dict[str, int]:
    """The round that speaks for each department on a day, among the book's (ended) rounds.

    The latest round that ended by `as_of`; when none had ended yet, the earliest one read
    (the caller reads rounds ending by the view's last day only, so never a later one).
    `known`: `_rounds_by_department(counts)` when the caller already has it.
    """
    chosen = {}
    for department, found in (known or _rounds_by_department(counts)).items():
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


# --- trends -----------------------------------------------------------------------------------


def _period_index(periods: Sequence[Period]) -> pl.Expr:
    """The index of the period a `day` falls in (null outside), as one expression."""
    expr = pl.lit(None, dtype=pl.Int64)
    for period in reversed(periods):
        inside = pl.col("day").is_between(period.start, period.end)
        expr = pl.when(inside).then(pl.lit(period.index, dtype=pl.Int64)).otherwise(expr)
    return expr


def _level_counts(frame: pl.DataFrame, keys: list[str]) -> dict[tuple, stats.LevelCounts]:
    """{key: LevelCounts} of a frame with `keys`, level and count columns (counts > 0)."""
    grouped = (
        frame.filter(pl.col("count") > 0)
        .group_by([*keys, "level"])
        .agg(pl.col("count").sum())
        .sort([*keys, "level"])
    )
    found: dict[tuple, tuple[list, list]] = {}
    for row in grouped.iter_rows():
        levels, counts = found.setdefault(tuple(row[: len(keys)]), ([], []))
        levels.append(row[-2])
        counts.append(row[-1])
    # Already merged, sorted and positive: stats takes LevelCounts as they are.
    return {
        key: stats.LevelCounts(np.asarray(levels, dtype=float), np.asarray(counts, dtype=np.int64))
        for key, (levels, counts) in found.items()
    }


def period_gaps(
    counts: pl.DataFrame,
    cells: Sequence[Cell],
    periods: Sequence[Period],
    *,
    by: list[str],
    threshold: int,
    book: EmployeeBook,
    only: Sequence[Cell] | None = None,
    complete_through: date | None = None,
) -> pl.DataFrame:
    """The gap (points) per group and period: customers of the period against its round.

    Columns: the `by` keys, period (index), period_start, gap, standard_error, n_customers,
    round_id (the round the employee side comes from: a change marks a break), partial (the
    period runs past `complete_through`, e.g. the current week). `by` = CELL_KEYS: each shown
    cell; ["department"]: each department's weighted mean of its shown cells' gaps (weights:
    the period's customer counts, the same on both sides; scales are never pooled raw).
    A period only uses a round that had ended by its last day: before the first round ended
    there is no gap. The cell gap is Welch's difference of means (trends need the estimate).
    `only`: the cells wanted (anonymity is still decided over all `cells`).
    """
    keys = pl.DataFrame(list(cells), schema=dict.fromkeys(CELL_KEYS, pl.String), orient="row")
    points = counts.join(keys, on=CELL_KEYS).with_columns(level=to_points())
    customers = points.filter(pl.col("source") == "customer").with_columns(
        period=_period_index(periods)
    )
    customers = customers.filter(pl.col("period").is_not_null())
    customer_counts = _level_counts(customers, [*CELL_KEYS, "period"])
    employees = points.filter(pl.col("source") == "employee")
    known = _rounds_by_department(counts)
    ends = {round_id: day for found in known.values() for day, round_id in found}
    wanted = set(only) if only is not None else None
    # Periods that share their rounds share their employee side: compute each once.
    sides: dict[tuple, dict[tuple, stats.LevelCounts]] = {}
    rows = []
    for period in periods:
        rounds = choose_rounds(counts, period.end, book=book, known=known)
        rounds = {d: r for d, r in rounds.items() if ends.get(r, period.end) <= period.end}
        config = tuple(sorted(rounds.items()))
        if config not in sides:
            side = employee_side(counts, cells, period.end, threshold, book=book, rounds=rounds)
            # Pooled or not, only shown cells: a pooled trend never includes a hidden cell.
            shown = [c for c in cells if side.cell_shown(c) and (wanted is None or c in wanted)]
            chosen = employees.join(
                pl.DataFrame(
                    list(side.rounds.items()),
                    schema={"department": pl.String, "round_id": pl.Int64},
                    orient="row",
                ),
                on=["department", "round_id"],
            ).join(
                pl.DataFrame(shown, schema=dict.fromkeys(CELL_KEYS, pl.String), orient="row"),
                on=CELL_KEYS,
            )
            sides[config] = _level_counts(chosen, CELL_KEYS)
        partial = complete_through is not None and period.end > complete_through
        for cell, employee in sides[config].items():
            customer = customer_counts.get((*cell, period.index))
            if customer is None:
                continue
            result = stats.welch_gap(employee, customer)
            rows.append(
                (
                    *cell,
                    period.index,
                    period.start,
                    result.difference,
                    result.standard_error,
                    customer.n,
                    rounds[cell[0]],
                    partial,
                )
            )
    schema = dict.fromkeys(CELL_KEYS, pl.String) | {
        "period": pl.Int64,
        "period_start": pl.Date,
        "gap": pl.Float64,
        "standard_error": pl.Float64,
        "n_customers": pl.Int64,
        "round_id": pl.Int64,
        "partial": pl.Boolean,
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    if by != CELL_KEYS:
        share = pl.col("n_customers") / pl.col("n_customers").sum()
        frame = frame.group_by([*by, "period"]).agg(
            pl.col("period_start").first(),
            (share * pl.col("gap")).sum().alias("gap"),
            ((share * pl.col("standard_error")) ** 2).sum().sqrt().alias("standard_error"),
            pl.col("n_customers").sum(),
            pl.col("round_id").first(),
            pl.col("partial").first(),
        )
    return frame.select(*by, *list(schema)[len(CELL_KEYS) :]).sort([*by, "period"])


def complete_through_of(filters: Filters) -> date:
    """The last day a trend period may reach and count as complete (today's is filling up)."""
    today = filters.now.date() if filters.now is not None else date.today()
    return today - timedelta(days=1)


def trends(points: pl.DataFrame, by: list[str]) -> dict[Any, dict[str, Any]]:
    """Theil–Sen slope (points per period) of every group's gap, keyed like the tables.

    Pairs of periods are compared within a round only (`stats.theil_sen_trend`), the current
    partial period is left out, and `qvalue` is Benjamini–Hochberg over the trends given: one
    family, the trend tests of the view.
    """
    if points.height == 0:
        return {}
    complete = points.filter(~pl.col("partial")) if "partial" in points.columns else points
    table = stats.gap_trend(complete.select(*by, "period", "gap", "round_id"), by=by)
    tested = table["pvalue"].is_not_null()
    qvalues: list[float | None] = [None] * table.height
    if tested.any():
        adjusted = stats.adjust_pvalues(table.filter(tested)["pvalue"].to_numpy())
        for index, value in zip(tested.arg_true().to_list(), adjusted, strict=True):
            qvalues[index] = float(value)
    table = table.with_columns(qvalue=pl.Series(qvalues, dtype=pl.Float64))
    found = {}
    for row in table.iter_rows(named=True):
        key = tuple(row[k] for k in by) if len(by) > 1 else row[by[0]]
        found[key] = row
    return found


# --- small numbers shown beside the gaps ------------------------------------------------------


def mean_interval(
    levels: np.ndarray, counts: np.ndarray, low: float, high: float, level: float = 0.95
) -> tuple[float, float, float] | None:
    """Mean in points and its t interval (clipped to 0–100); None without ratings."""
    n = int(counts.sum())
    if n == 0:
        return None
    points = 100 * (levels.astype(float) - low) / (high - low)
    mean = float(np.dot(points, counts) / n)
    if n < 2:
        return mean, mean, mean
    variance = float(np.dot(counts, (points - mean) ** 2) / (n - 1))
    half = float(special.stdtrit(n - 1, 0.5 + level / 2)) * math.sqrt(variance / n)
    return mean, max(0.0, mean - half), min(100.0, mean + half)


def _counts(frame: pl.DataFrame, source: str) -> tuple[np.ndarray, np.ndarray]:
    part = frame.filter((pl.col("source") == source) & (pl.col("count") > 0))
    part = part.group_by("level").agg(pl.col("count").sum()).sort("level")
    return part["level"].to_numpy(), part["count"].to_numpy()


def _shares(levels: np.ndarray, counts: np.ndarray, low: int, high: int) -> list[float] | None:
    total = counts.sum()
    if total == 0:
        return None
    shares = dict.fromkeys(range(low, high + 1), 0.0)
    for level, count in zip(levels.tolist(), counts.tolist(), strict=True):
        shares[int(level)] = count / total
    return list(shares.values())


def _nps(levels: np.ndarray, counts: np.ndarray) -> dict[str, Any] | None:
    if counts.sum() == 0:
        return None
    result = stats.nps((levels, counts))
    return {
        "score": result.score,
        "low": result.confidence_interval.low,
        "high": result.confidence_interval.high,
        "n": result.n,
    }


def _needed(
    customers: tuple[np.ndarray, np.ndarray],
    employees: tuple[np.ndarray, np.ndarray],
    low: int,
    high: int,
    invited: int | None = None,
) -> dict[str, Any] | None:
    """A planning hint against the interval shown, never asking for more than were invited."""
    plan = stats.responses_needed(
        customers,
        employees,
        scale=(low, high),
        half_width=TARGET_HALF_WIDTH,
        max_employees=invited,
    )
    if plan.current_half_width is not None and plan.current_half_width <= TARGET_HALF_WIDTH:
        return None
    return {
        "half_width": plan.current_half_width,
        "customers": plan.additional_customers,
        "employees": plan.additional_employees,
        "balanced_customers": plan.balanced_customers,
        "balanced_employees": plan.balanced_employees,
        # With every invited employee: "best reachable: ±X".
        "best_half_width": plan.best_half_width,
    }


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
    headline: dict[str, Any] | None
    hidden_departments: int
    departments: list[dict[str, Any]]
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
    for row in table.iter_rows(named=True):
        key = row["department"]
        info = catalog.departments[key]
        round_info = names.get(side.rounds.get(key, -1))
        rows.append(
            row
            | {
                "name": info.name,
                "raters": None
                if row["suppression"] not in (None, NO_CUSTOMERS)
                else side.department_raters.get(key, 0),
                "round": round_info,
                "round_before_view": round_info is not None and round_info.ends < filters.start,
                "trend": points.filter(pl.col("department") == key).to_dicts(),
                "slope": slopes.get(key),
                "change": _change(before.get(key), row, side.rounds.get(key)),
            }
        )
    rows.sort(key=lambda r: (r["gap"] is None, -(r["gap"] or 0.0), r["name"]))
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
) -> dict[Any, dict[str, Any]]:
    """The gaps of the comparison period (its own round as of its end), keyed like the rows.

    Each row also carries `round_id`, the round its employee side came from.
    """
    if not filters.compare:
        return {}
    first, last = filters.compare
    counts = await read_counts(catalog, cells, first, last, segments=filters.segments)
    side = employee_side(counts, cells, last, rules["threshold"], book=book)
    if pooled:
        raters = await rater_levels(catalog, cells, side.rounds.values())
        table = department_table(counts, raters, side, cells, first, last, **rules)
        return {
            row["department"]: row | {"round_id": side.rounds.get(row["department"])}
            for row in table.iter_rows(named=True)
        }
    table = cell_table(counts, side, cells, first, last, **rules)
    return {
        tuple(row[k] for k in CELL_KEYS): row | {"round_id": side.rounds.get(row["department"])}
        for row in table.iter_rows(named=True)
    }


def _change(
    before: dict[str, Any] | None, after: dict[str, Any], round_id: int | None
) -> dict[str, Any] | None:
    """Change of a gap against the comparison period, tested by Δ/√(SE₁² + SE₂²).

    When both periods read the same round, the employee side is the same ratings: only the
    customers moved, so only their standard errors enter (counting the employees' error twice
    would hide a real change).
    """
    if before is None or before["gap"] is None or after["gap"] is None:
        return None
    shared = round_id is not None and before.get("round_id") == round_id
    error = "customer_standard_error" if shared else "standard_error"
    if before[error] is None or after[error] is None:
        return None
    change = stats.gap_change(before["gap"], before[error], after["gap"], after[error])
    return {"before": before["gap"], "difference": change.difference, "pvalue": change.pvalue}


@dataclass
class DepartmentView:
    """Everything on a department's page."""

    filters: Filters
    department: DepartmentInfo
    summary: dict[str, Any] | None
    round: RoundInfo | None
    round_before_view: bool
    cells: list[dict[str, Any]]
    points: list[dict[str, Any]]
    customer_comments: list[dict[str, Any]]
    unsolicited_comments: list[dict[str, Any]]
    employee_comments: list[dict[str, Any]]
    follow_ups_open: int
    follow_ups: list[dict[str, Any]]
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
    summary = next((r for r in summary_table.iter_rows(named=True) if r["department"] == key), None)
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
    rows = []
    for row in table.iter_rows(named=True):
        cell = (row["department"], row["step"], row["question"])
        rows.append(
            _cell_details(catalog, cell, row, counts, view_counts, side, invited.get(round_id))
            | {"slope": slopes.get(cell), "change": _change(before.get(cell), row, round_id)}
        )
    total, follow_ups = await open_follow_ups(catalog.departments[key].id)
    step_keys = list(dict.fromkeys(c[1] for c in cells))
    return DepartmentView(
        filters=filters,
        department=catalog.departments[key],
        summary=summary,
        round=round_info,
        round_before_view=round_info is not None and round_info.ends < filters.start,
        cells=rows,
        points=points.to_dicts(),
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


def _cell_details(
    catalog: Catalog,
    cell: Cell,
    row: dict[str, Any],
    counts: pl.DataFrame,
    view_counts: pl.DataFrame,
    side: EmployeeSide,
    invited: int | None = None,
) -> dict[str, Any]:
    """A cell row plus what the page shows beside it (only shown employee data is touched)."""
    department, step_key, question_key = cell
    step = catalog.steps[step_key]
    question = catalog.questions[(step_key, question_key)]
    mine = view_counts.filter((pl.col("step") == step_key) & (pl.col("question") == question_key))
    customers = _counts(mine, "customer")
    unsolicited = _counts(mine, "unsolicited")
    employees: tuple[np.ndarray, np.ndarray] = (np.array([]), np.array([]))
    if side.cell_shown(cell):
        round_id = side.rounds[department]
        chosen = counts.filter(
            (pl.col("source") == "employee")
            & (pl.col("round_id") == round_id)
            & (pl.col("step") == step_key)
            & (pl.col("question") == question_key)
        )
        employees = _counts(chosen, "employee")
    low, high = question.low, question.high
    customer_mean = mean_interval(*customers, low, high)
    unsolicited_mean = mean_interval(*unsolicited, low, high)
    shown = side.cell_shown(cell)
    return row | {
        "journey": step.journey,
        "journey_name": step.journey_name,
        "step_name": step.name,
        "moment_of_truth": step.moment_of_truth,
        "kind": question.kind,
        "wording": question.wording,
        "low": low,
        "high": high,
        "low_label": question.low_label,
        "high_label": question.high_label,
        "customer_ci": None if customer_mean is None else customer_mean[1:],
        "customer_shares": _shares(*customers, low, high),
        "employee_shares": _shares(*employees, low, high) if shown else None,
        "unsolicited_n": int(unsolicited[1].sum()),
        "unsolicited_score": None if unsolicited_mean is None else unsolicited_mean[0],
        "nps": _nps(*customers) if question.kind == "nps" else None,
        "employee_nps": _nps(*employees) if question.kind == "nps" and shown else None,
        "needed": _needed(customers, employees, low, high, invited) if shown else None,
    }


async def _employee_comments(
    catalog: Catalog,
    step_keys: Sequence[str],
    side: EmployeeSide,
    department: str,
    threshold: int,
    comment_threshold: int,
) -> list[dict[str, Any]]:
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
        entry: dict[str, Any] = {"step": step_key, "step_name": catalog.steps[step_key].name}
        if reason is not None:
            entry |= {
                "comments": [],
                "reason": describe(
                    reason, threshold=threshold, comment_threshold=comment_threshold
                ),
            }
        else:
            entry |= {
                "comments": await employee_comments(catalog.steps[step_key].id, round_id),
                "reason": None,
            }
        found.append(entry)
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
