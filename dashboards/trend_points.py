"""The gap per trend period and its Theil–Sen trend, per cell or per department.

Per week or month, customers of that period against the round that speaks for the period's last
day (a period only uses a round that had ended by then), gap as a plain difference of means
with Welch's standard error; then the Theil–Sen slope in points per period, pairs of periods
compared within a round only, and q-values over the view's trend tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from dashboards import stats
from dashboards.employee_side import choose_rounds, employee_side, rounds_by_department
from dashboards.filters import Filters, Period
from dashboards.gap_tables import CELL_KEYS, Cell, to_points
from dashboards.rows import Trend, read_rows
from dashboards.suppression import EmployeeBook


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
    rounds_read = rounds_by_department(counts)
    ends = {round_id: day for found in rounds_read.values() for day, round_id in found}
    wanted = set(only) if only is not None else None
    # Periods that share their rounds share their employee side: compute each once.
    sides: dict[tuple, dict[tuple, stats.LevelCounts]] = {}
    rows = []
    for period in periods:
        rounds = choose_rounds(counts, period.end, book=book, rounds_read=rounds_read)
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


def trends(points: pl.DataFrame, by: list[str]) -> dict[Any, Trend]:
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
    keys = table.select(by).rows() if len(by) > 1 else table[by[0]].to_list()
    return dict(zip(keys, read_rows(Trend, table), strict=True))
