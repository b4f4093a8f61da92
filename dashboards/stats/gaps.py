"""The perception gap of one cell, and a table of gaps from tallies with q-values."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from dashboards.stats.effect_sizes import delta_magnitude
from dashboards.stats.intervals import ConfidenceInterval, dirichlet_means
from dashboards.stats.levels import (
    LevelCounts,
    Scores,
    _check_scale,
    _moments,
    _points,
    _scale_counts,
)
from dashboards.stats.multiplicity import adjust_pvalues
from dashboards.stats.rank_tests import brunner_munzel
from dashboards.stats.seeding import seeded
from dashboards.stats.verdicts import VERDICT_MIN_RATERS, family_verdicts, verdict


@dataclass(frozen=True)
class GapResult:
    """Perception gap of one cell (one step and question), or of several pooled: employees
    against customers.

    Scores are means mapped to 0–100 by the scale's ends. ``gap`` = employee − customer score
    in points, with its interval ``gap_ci`` (Dirichlet–multinomial, see
    ``dirichlet_gap_interval``) and ``standard_error`` (the standard deviation of the same
    draws); ``customer_standard_error`` is that of the customer score alone.
    ``relative_effect`` = P(C < E) + ½P(C = E) (Brunner–Munzel, customers first), with
    ``relative_effect_ci``, ``pvalue`` and ``method``. ``cliffs_delta`` = P(E > C) − P(E < C)
    = 2·relative_effect − 1 (positive when employees rate higher) with its ``magnitude``
    label. ``verdict`` is the one rule of ``dashboards.stats.verdicts`` with the p-value as its
    own family's q-value (tables re-decide it with their family's q-values). When
    ``suppressed`` every comparison field is None and ``suppressed_reason`` says why.
    """

    n_customers: int
    n_employees: int
    customer_score: float | None
    employee_score: float | None
    gap: float | None
    gap_ci: ConfidenceInterval | None
    standard_error: float | None
    relative_effect: float | None
    relative_effect_ci: ConfidenceInterval | None
    pvalue: float | None
    method: str | None
    cliffs_delta: float | None
    magnitude: str | None
    suppressed: bool
    suppressed_reason: str | None
    verdict: str | None = None
    customer_standard_error: float | None = None


def suppressed_gap(
    n_customers: int,
    n_employees: int,
    customer_score: float | None,
    employee_score: float | None,
    reason: str,
    customer_standard_error: float | None = None,
) -> GapResult:
    """A GapResult with every comparison field empty and the reason it is."""
    return GapResult(
        n_customers,
        n_employees,
        customer_score,
        employee_score,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        True,
        reason,
        None,
        customer_standard_error,
    )


def perception_gap(
    customer: Scores,
    employee: Scores,
    *,
    scale: tuple[float, float],
    confidence_level: float = 0.95,
    min_employees: int = 5,
    verdict_min_raters: int = VERDICT_MIN_RATERS,
    rng: np.random.Generator | int | None = None,
    n_resamples: int = 9999,
    n_draws: int = 4000,
) -> GapResult:
    """Gap between employees' self-ratings and customers' ratings of one step.

    Parameters
    ----------
    customer, employee
        Scores, or counts per level, on the question's scale. Either may be empty.
    scale
        ``(low, high)``: the ends of the scale, e.g. ``(1, 5)``.
    confidence_level
        Two-sided confidence level of ``gap_ci`` and ``relative_effect_ci``.
    min_employees
        Anonymity threshold: with fewer employee ratings (distinct raters) the employee side is
        suppressed. Must be at least 3.
    verdict_min_raters
        Fewer raters than this make the verdict ``"indicative"``.
    rng
        Seed or generator for the interval's draws and the permutation test. None (default)
        seeds from the data itself, so the same counts always give the same numbers.
    n_resamples
        Permutations for the Brunner–Munzel permutation test (a group smaller than 15).
    n_draws
        Draws of each group's distribution for the gap's interval.

    Returns
    -------
    GapResult
        See the class. Employee-side values are None when suppressed; the customer score is
        None when there are no customer ratings (also suppressed).

    Notes
    -----
    score = 100·(mean − low)/(high − low). ``gap_ci`` is the Dirichlet–multinomial interval
    with prior weight 1 on the ends of the scale (``dirichlet_gap_interval``): it kept 95–97%
    coverage from 3 to 30 employees where the Welch interval fell to 73% and the studentized
    bootstrap to 78% (docs/statistics.md), is never of zero width, and never reaches ±100 for
    want of data. The test is Brunner–Munzel (``brunner_munzel``, method ``"auto"``: the
    studentized permutation test when the smaller group has fewer than 15).
    """
    if min_employees < 3:
        raise ValueError("min_employees must be at least 3")
    low, high = _check_scale(scale)
    customers = _scale_counts(customer, "customer", low, high)
    employees = _scale_counts(employee, "employee", low, high)
    n_customers, n_employees = customers.n, employees.n
    to_points = 100 / (high - low)
    customer_score = _points(customers, low, high) if n_customers else None
    customer_se = _mean_standard_error(customers, to_points)
    employee_score = _points(employees, low, high) if n_employees >= min_employees else None
    if n_employees < min_employees:
        reason = f"fewer than {min_employees} employee ratings"
        return suppressed_gap(n_customers, n_employees, customer_score, None, reason, customer_se)
    if n_customers == 0:
        return suppressed_gap(0, n_employees, None, employee_score, "no customer ratings")
    generator = seeded(rng, (low, high), customers, employees)
    draws = dirichlet_means(employees, scale=(low, high), n_draws=n_draws, rng=generator)
    draws = draws - dirichlet_means(customers, scale=(low, high), n_draws=n_draws, rng=generator)
    tail = (1 - confidence_level) / 2
    interval = ConfidenceInterval(*(float(v) for v in np.quantile(draws, [tail, 1 - tail])))
    test = brunner_munzel(
        customers,
        employees,
        confidence_level=confidence_level,
        n_resamples=n_resamples,
        rng=generator,
    )
    delta = 2 * test.relative_effect - 1
    gap_ci = _points_interval(interval, to_points)
    return GapResult(
        n_customers=n_customers,
        n_employees=n_employees,
        customer_score=customer_score,
        employee_score=employee_score,
        gap=employee_score - customer_score,
        gap_ci=gap_ci,
        standard_error=float(np.std(draws)) * to_points,
        relative_effect=test.relative_effect,
        relative_effect_ci=test.confidence_interval,
        pvalue=test.pvalue,
        method=test.method,
        cliffs_delta=delta,
        magnitude=delta_magnitude(delta),
        suppressed=False,
        suppressed_reason=None,
        verdict=verdict(
            suppressed=False,
            raters=n_employees,
            one_level=employees.levels.size == 1,
            low=gap_ci.low,
            high=gap_ci.high,
            qvalue=test.pvalue,
            min_raters=verdict_min_raters,
        ),
        customer_standard_error=customer_se,
    )


def _mean_standard_error(data: LevelCounts, to_points: float) -> float | None:
    """Standard error s/√n of a mean in points; None below two ratings."""
    if data.n < 2:
        return None
    _, _, variance = _moments(data)
    return math.sqrt(variance / data.n) * to_points


def _points_interval(
    interval: ConfidenceInterval | None, factor: float
) -> ConfidenceInterval | None:
    """An interval of raw score differences in points (× factor), clipped to −100…100."""
    if interval is None:
        return None
    low, high = interval.low * factor, interval.high * factor
    return ConfidenceInterval(max(-100.0, low), min(100.0, high))


GAP_COLUMNS: tuple[str, ...] = (
    "n_customers",
    "n_employees",
    "customer_score",
    "employee_score",
    "gap",
    "gap_low",
    "gap_high",
    "standard_error",
    "relative_effect",
    "relative_effect_low",
    "relative_effect_high",
    "pvalue",
    "qvalue",
    "method",
    "cliffs_delta",
    "magnitude",
    "suppressed",
    "suppressed_reason",
    "verdict",
    "customer_standard_error",
)

GAP_SCHEMA: dict[str, Any] = {name: pl.Float64 for name in GAP_COLUMNS} | {
    "n_customers": pl.Int64,
    "n_employees": pl.Int64,
    "method": pl.String,
    "magnitude": pl.String,
    "suppressed": pl.Boolean,
    "suppressed_reason": pl.String,
    "verdict": pl.String,
}

_TALLY_COLUMNS = ("source", "level", "count", "scale_low", "scale_high")


def gap_table(
    tallies: pl.DataFrame,
    *,
    by: Sequence[str],
    family: Sequence[str] | None = None,
    confidence_level: float = 0.95,
    min_employees: int = 5,
    verdict_min_raters: int = VERDICT_MIN_RATERS,
    rng: int | None = None,
    n_resamples: int = 9999,
    n_draws: int = 4000,
) -> pl.DataFrame:
    """Perception gap of every cell of a tally table, with Benjamini–Hochberg q-values.

    Parameters
    ----------
    tallies
        Counts with columns: the ``by`` columns, ``source`` (str; rows other than
        ``"customer"`` and ``"employee"`` are ignored), ``level`` (int), ``count`` (int),
        ``scale_low`` and ``scale_high`` (int, constant within a cell).
    by
        Columns whose distinct combinations are the cells, e.g.
        ``["department", "step", "question"]``.
    family
        Columns grouping the rows into families for the q-values; None: one family.
        Must be a subset of ``by``.
    confidence_level, min_employees, verdict_min_raters, n_resamples, n_draws
        As in ``perception_gap``.
    rng
        None (default) or an integer: each cell's draws are seeded from it, the cell's key and
        its counts, so a cell's row never depends on which other cells share the table.

    Returns
    -------
    polars.DataFrame
        One row per cell, sorted by ``by``; columns ``[*by, *GAP_COLUMNS]``:
        n_customers, n_employees (Int64); customer_score, employee_score, gap, gap_low,
        gap_high, standard_error (Float64, 0–100 points); relative_effect,
        relative_effect_low, relative_effect_high, pvalue, qvalue, cliffs_delta (Float64);
        method, magnitude (String); suppressed (Boolean); suppressed_reason (String);
        verdict (String); customer_standard_error (Float64). Null where ``perception_gap``
        gives None.

    Notes
    -----
    ``qvalue`` is the Benjamini–Hochberg adjusted p-value within each family, over the rows
    that are not suppressed and have a p-value; null elsewhere. ``verdict`` is then decided
    with that q-value (``dashboards.stats.verdicts``).
    """
    by = list(by)
    family = list(family) if family is not None else []
    _check_tally_columns(tallies, by, family)
    if isinstance(rng, np.random.Generator):
        raise ValueError("rng must be None or an integer: each cell seeds its own draws")
    rows = []
    cells = tallies.sort(by).partition_by(by, as_dict=True, maintain_order=True)
    options = {
        "confidence_level": confidence_level,
        "min_employees": min_employees,
        "verdict_min_raters": verdict_min_raters,
        "n_resamples": n_resamples,
        "n_draws": n_draws,
    }
    for key, cell in cells.items():
        result = _cell_gap(cell, key, rng, options)
        rows.append(dict(zip(by, key, strict=True)) | gap_row(result))
    key_schema = {name: tallies.schema[name] for name in by}
    table = pl.DataFrame(rows, schema=key_schema | GAP_SCHEMA, orient="row")
    return with_qvalues(table, family)


def with_qvalues(table: pl.DataFrame, family: Sequence[str] = ()) -> pl.DataFrame:
    """The table with Benjamini–Hochberg `qvalue` per family and the verdicts they decide.

    Suppressed rows and rows without a p-value are in no family: their q-value is null.
    """
    if table.height == 0:
        return table
    qvalues = _family_qvalues(table, list(family))
    table = table.with_columns(qvalue=pl.Series(qvalues, dtype=pl.Float64))
    return family_verdicts(table)


def _check_tally_columns(tallies: pl.DataFrame, by: list[str], family: list[str]) -> None:
    """Raise ValueError naming a missing column or a family column outside ``by``."""
    if not by:
        raise ValueError("by must name at least one column")
    for name in (*by, *_TALLY_COLUMNS):
        if name not in tallies.columns:
            raise ValueError(f"tallies has no column {name!r}")
    for name in family:
        if name not in by:
            raise ValueError(f"family column {name!r} is not one of the by columns")


def _cell_gap(
    cell: pl.DataFrame, key: tuple, rng: int | None, options: dict[str, Any]
) -> GapResult:
    """perception_gap of one cell's tally rows, its draws seeded from its key and counts."""
    lows, highs = np.unique(cell["scale_low"].to_numpy()), np.unique(cell["scale_high"].to_numpy())
    if lows.size != 1 or highs.size != 1:
        raise ValueError("scale_low and scale_high must be constant within a cell")
    source = cell["source"].to_numpy()
    levels = cell["level"].to_numpy()
    counts = cell["count"].to_numpy()
    customer = (levels[source == "customer"], counts[source == "customer"])
    employee = (levels[source == "employee"], counts[source == "employee"])
    scale = (lows[0], highs[0])
    customers = _scale_counts(customer, "customer", *_check_scale(scale))
    employees = _scale_counts(employee, "employee", *_check_scale(scale))
    return _memo_gap(
        key, rng, scale, customers.frozen(), employees.frozen(), tuple(sorted(options.items()))
    )


# A cell's figures depend on its counts, scale, key and options alone (its draws are seeded
# from them), so they are kept by those: a dashboard seen again, or whose other cells changed,
# computes only the cells whose counts changed.
@lru_cache(maxsize=8192)
def _memo_gap(
    key: tuple,
    rng: int | None,
    scale: tuple[Any, Any],
    customer: tuple[tuple[float, ...], tuple[int, ...]],
    employee: tuple[tuple[float, ...], tuple[int, ...]],
    options: tuple[tuple[str, Any], ...],
) -> GapResult:
    customers, employees = LevelCounts.thawed(customer), LevelCounts.thawed(employee)
    generator = seeded(rng, key, scale, customers, employees)
    return perception_gap(customers, employees, scale=scale, rng=generator, **dict(options))


def gap_row(result: GapResult) -> dict[str, Any]:
    """Flatten a GapResult into the GAP_COLUMNS of one row (qvalue filled in later)."""
    gap_ci = result.gap_ci or (None, None)
    effect_ci = result.relative_effect_ci or (None, None)
    return {
        "n_customers": result.n_customers,
        "n_employees": result.n_employees,
        "customer_score": result.customer_score,
        "employee_score": result.employee_score,
        "gap": result.gap,
        "gap_low": gap_ci[0],
        "gap_high": gap_ci[1],
        "standard_error": result.standard_error,
        "relative_effect": result.relative_effect,
        "relative_effect_low": effect_ci[0],
        "relative_effect_high": effect_ci[1],
        "pvalue": result.pvalue,
        "qvalue": None,
        "method": result.method,
        "cliffs_delta": result.cliffs_delta,
        "magnitude": result.magnitude,
        "suppressed": result.suppressed,
        "suppressed_reason": result.suppressed_reason,
        "verdict": result.verdict,
        "customer_standard_error": result.customer_standard_error,
    }


def _family_qvalues(table: pl.DataFrame, family: list[str]) -> list[float | None]:
    """Benjamini–Hochberg q-values within each family, over non-suppressed rows with a p-value."""
    families: dict[tuple, list[int]] = defaultdict(list)
    pvalues = table["pvalue"].to_list()
    suppressed = table["suppressed"].to_list()
    keys = table.select(family).rows() if family else [()] * table.height
    for index, key in enumerate(keys):
        if not suppressed[index] and pvalues[index] is not None:
            families[key].append(index)
    qvalues: list[float | None] = [None] * table.height
    for members in families.values():
        adjusted = adjust_pvalues([pvalues[i] for i in members], method="bh")
        for index, value in zip(members, adjusted, strict=True):
            qvalues[index] = float(value)
    return qvalues
