"""The gap tables of a view: every cell, every department, the organisation (no I/O).

- Cells: `stats.gap_table` over one Benjamini–Hochberg family, the organisation's cells of the
  view (same period and filters), whatever part of it a page shows; each cell's draws are
  seeded from its key and counts, so a cell reads the same on every page and export.
- Departments and the organisation: `stats.pooled_gap`, a weighted mean of the shown cells'
  gaps (weights: each cell's share of the view's customer responses, the same on both sides),
  its uncertainty taken rater by rater from the round's pseudonymous ratings. The departments
  are a second family. Hidden cells never enter a pooled figure, and suppressed rows are in no
  family.
- Every row has the same columns (CELL or department keys + `stats.GAP_COLUMNS` +
  `suppression`), and a `verdict` from the one rule of `dashboards.stats.verdicts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Protocol

import polars as pl

from dashboards import stats
from dashboards.rows import GapFigures
from surveys.anonymity import SuppressionReason, describe, effective_threshold

Cell = tuple[str, str, str]  # (department, step, question) keys
CELL_KEYS = ["department", "step", "question"]
NO_EMPLOYEES = "no_employee_ratings"
NO_CUSTOMERS = "no_customer_ratings"
ORGANISATION = "organisation"


class ShownSide(Protocol):
    """What a table needs of the employee side of a view (`dashboards.gaps.EmployeeSide`)."""

    rounds: Mapping[str, int]
    raters: Mapping[Cell, int]
    department_raters: Mapping[str, int]
    department_reasons: Mapping[str, SuppressionReason | None]
    cell_reasons: Mapping[Cell, SuppressionReason | None]

    def cell_shown(self, cell: Cell) -> bool: ...

    def department_shown(self, department: str) -> bool: ...


def to_points() -> pl.Expr:
    """A tally's level on 0–100 points by its scale's ends."""
    scale = pl.col("scale_high") - pl.col("scale_low")
    return 100 * (pl.col("level") - pl.col("scale_low")).cast(pl.Float64) / scale


def _cell_frame(cells: Sequence[Cell]) -> pl.DataFrame:
    return pl.DataFrame(list(cells), schema=dict.fromkeys(CELL_KEYS, pl.String), orient="row")


def _round_frame(side: ShownSide) -> pl.DataFrame:
    return pl.DataFrame(
        list(side.rounds.items()),
        schema={"department": pl.String, "round_id": pl.Int64},
        orient="row",
    )


def gap_input(
    counts: pl.DataFrame, side: ShownSide, cells: Sequence[Cell], start: date, end: date
) -> pl.DataFrame:
    """The tallies `stats.gap_table` reads for a view: shown employee ratings only.

    Customers: source "customer" of days start…end. Employees: the chosen round of each
    department, cells that are shown. Every cell gets a zero row, so empty cells still appear.
    """
    shown = sorted(c for c in cells if side.cell_shown(c))
    keys = _cell_frame(cells)
    customers = counts.filter(
        (pl.col("source") == "customer") & pl.col("day").is_between(start, end)
    ).join(keys, on=CELL_KEYS)
    employees = (
        counts.filter(pl.col("source") == "employee")
        .join(_round_frame(side), on=["department", "round_id"])
        .join(_cell_frame(shown), on=CELL_KEYS)
    )
    frame = pl.concat([customers, employees]).select(
        *CELL_KEYS, "source", "level", "count", "scale_low", "scale_high"
    )
    scales = (
        counts.select(*CELL_KEYS, "scale_low", "scale_high").unique(subset=CELL_KEYS)
        if counts.height
        else pl.DataFrame(
            schema={
                **dict.fromkeys(CELL_KEYS, pl.String),
                "scale_low": pl.Int64,
                "scale_high": pl.Int64,
            }
        )
    )
    empty = keys.join(scales, on=CELL_KEYS, how="left").with_columns(
        source=pl.lit("customer"),
        count=pl.lit(0, dtype=pl.Int64),
        scale_low=pl.col("scale_low").fill_null(0).cast(pl.Int64),
        scale_high=pl.col("scale_high").fill_null(1).cast(pl.Int64),
    )
    empty = empty.with_columns(level=pl.col("scale_low")).select(frame.columns)
    return pl.concat([frame, empty.cast(frame.schema)])


def _annotate(
    table: pl.DataFrame,
    keys: list[str],
    reasons: Mapping[Any, SuppressionReason | None],
    raters: Mapping[Any, int],
    threshold: int,
) -> pl.DataFrame:
    """Replace the statistics' suppression note with the anonymity reason and its sentence."""
    codes, texts, hidden_n = [], [], []
    for row in table.iter_rows(named=True):
        key = tuple(row[k] for k in keys) if len(keys) > 1 else row[keys[0]]
        reason = reasons.get(key)
        rated = raters.get(key, 0)
        if reason is not None and rated > 0:
            codes.append(reason.value)
            texts.append(describe(reason, threshold=threshold))
            hidden_n.append(True)
        elif rated == 0:
            codes.append(NO_EMPLOYEES)
            texts.append("No employee ratings in this round.")
            hidden_n.append(False)
        elif row["n_customers"] == 0:
            codes.append(NO_CUSTOMERS)
            texts.append("No customer ratings in this period.")
            hidden_n.append(False)
        else:
            codes.append(None)
            texts.append(row["suppressed_reason"])
            hidden_n.append(False)
    return table.with_columns(
        suppression=pl.Series(codes, dtype=pl.String),
        suppressed_reason=pl.Series(texts, dtype=pl.String),
        n_employees=pl.when(pl.Series(hidden_n, dtype=pl.Boolean))
        .then(None)
        .otherwise(pl.col("n_employees")),
    )


def cell_table(
    counts: pl.DataFrame,
    side: ShownSide,
    cells: Sequence[Cell],
    start: date,
    end: date,
    *,
    threshold: int,
    verdict_min_raters: int = stats.VERDICT_MIN_RATERS,
    family: Sequence[Cell] | None = None,
) -> pl.DataFrame:
    """The gap of every cell (CELL_KEYS + stats.GAP_COLUMNS + suppression), in `cells` order.

    `family`: the cells of the view's Benjamini–Hochberg family — the organisation's cells in
    the view — when `cells` is only part of it (a department's page, a filtered API answer);
    default `cells`. `counts` must hold the whole family's customers.
    """
    family = list(dict.fromkeys([*(family or []), *cells]))
    if not family:
        return _empty_table(CELL_KEYS)
    table = stats.gap_table(
        gap_input(counts, side, family, start, end),
        by=CELL_KEYS,
        min_employees=effective_threshold(threshold),
        verdict_min_raters=max(verdict_min_raters, effective_threshold(threshold)),
    )
    table = _annotate(table, CELL_KEYS, side.cell_reasons, side.raters, threshold)
    order = pl.DataFrame(
        [(*cell, index) for index, cell in enumerate(cells)],
        schema={**dict.fromkeys(CELL_KEYS, pl.String), "order": pl.Int64},
        orient="row",
    )
    return table.join(order, on=CELL_KEYS).sort("order").drop("order")


def pooled_inputs(
    counts: pl.DataFrame,
    raters: pl.DataFrame,
    side: ShownSide,
    cells: Sequence[Cell],
    start: date,
    end: date,
) -> tuple[dict[Cell, stats.LevelCounts], dict[Any, dict[Cell, int]], dict[Cell, tuple]]:
    """`stats.pooled_gap`'s inputs for these cells: customers, shown raters' levels, scales.

    Raters are keyed by (round, pseudonym); only shown cells of each department's chosen round.
    """
    customers_frame = (
        counts.filter((pl.col("source") == "customer") & pl.col("day").is_between(start, end))
        .join(_cell_frame(cells), on=CELL_KEYS)
        .filter(pl.col("count") > 0)
        .group_by([*CELL_KEYS, "level", "scale_low", "scale_high"])
        .agg(pl.col("count").sum())
        .sort([*CELL_KEYS, "level"])
    )
    levels: dict[Cell, tuple[list, list]] = {}
    scales: dict[Cell, tuple] = {}
    for department, step, question, level, low, high, n in customers_frame.iter_rows():
        cell = (department, step, question)
        found = levels.setdefault(cell, ([], []))
        found[0].append(level)
        found[1].append(n)
        scales[cell] = (low, high)
    customers = {cell: stats.level_counts(pair) for cell, pair in levels.items()}
    shown = [c for c in cells if side.cell_shown(c)]
    chosen = raters.join(_round_frame(side), on=["department", "round_id"]).join(
        _cell_frame(shown), on=CELL_KEYS
    )
    employees: dict[Any, dict[Cell, int]] = {}
    for department, step, question, round_id, rater, level in chosen.select(
        *CELL_KEYS, "round_id", "rater", "level"
    ).iter_rows():
        employees.setdefault((round_id, rater), {})[(department, step, question)] = level
    return customers, employees, scales


def _pooled_row(inputs: tuple, key: str, threshold: int, verdict_min_raters: int) -> dict[str, Any]:
    customers, employees, scales = inputs
    result = stats.pooled_gap(
        customers,
        employees,
        scales=scales,
        min_employees=effective_threshold(threshold),
        verdict_min_raters=max(verdict_min_raters, effective_threshold(threshold)),
        key=key,
    )
    return stats.gap_row(result)


def department_table(
    counts: pl.DataFrame,
    raters: pl.DataFrame,
    side: ShownSide,
    cells: Sequence[Cell],
    start: date,
    end: date,
    *,
    threshold: int,
    verdict_min_raters: int = stats.VERDICT_MIN_RATERS,
) -> pl.DataFrame:
    """Each department's pooled gap (0–100 points); one BH family: the departments.

    `raters`: `queries.rater_levels` of the chosen rounds. Columns as `cell_table`'s, keyed by
    department.
    """
    departments = list(dict.fromkeys(c[0] for c in cells))
    if not departments:
        return _empty_table(["department"])
    rows = []
    for department in departments:
        mine = [c for c in cells if c[0] == department]
        inputs = pooled_inputs(counts, raters, side, mine, start, end)
        rows.append(
            {"department": department}
            | _pooled_row(inputs, department, threshold, verdict_min_raters)
        )
    schema = {"department": pl.String} | stats.GAP_SCHEMA
    table = stats.with_qvalues(pl.DataFrame(rows, schema=schema, orient="row"))
    return _annotate(
        table, ["department"], side.department_reasons, side.department_raters, threshold
    )


def organisation_gap(
    counts: pl.DataFrame,
    raters: pl.DataFrame,
    side: ShownSide,
    cells: Sequence[Cell],
    start: date,
    end: date,
    *,
    threshold: int,
    verdict_min_raters: int = stats.VERDICT_MIN_RATERS,
) -> GapFigures | None:
    """The organisation's pooled gap over the shown cells; None when there is none."""
    shown = [c for c in cells if side.department_shown(c[0])]
    if not shown:
        return None
    inputs = pooled_inputs(counts, raters, side, shown, start, end)
    row = GapFigures(**_pooled_row(inputs, ORGANISATION, threshold, verdict_min_raters))
    return None if row.gap is None else row


def _empty_table(keys: list[str]) -> pl.DataFrame:
    """A table with no rows and the columns `cell_table` and `department_table` give."""
    schema: dict[str, Any] = {k: pl.String for k in keys}
    return pl.DataFrame(schema=schema | stats.GAP_SCHEMA | {"suppression": pl.String})
