"""Trends of gaps over periods (Theil–Sen, Kendall's τ) and the change between two periods."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import special

from dashboards.stats.intervals import ConfidenceInterval
from dashboards.stats.levels import _check_confidence_level

MIN_TREND_PERIODS = 4


@dataclass(frozen=True)
class TrendResult:
    """Theil–Sen trend of a gap over periods with Kendall's test.

    ``slope`` is in points per unit of period (per period index, or per day for dates), with
    ``slope_ci``; slope fields are None with a ``reason`` when there are too few periods.
    ``n_blocks``: the stretches (rating rounds) the periods fall in; pairs of periods are only
    compared within a stretch.
    """

    n_periods: int
    slope: float | None
    slope_ci: ConfidenceInterval | None
    intercept: float | None
    kendall_tau: float | None
    pvalue: float | None
    reason: str | None
    n_blocks: int = 1


def theil_sen_trend(
    periods: Sequence[float] | np.ndarray,
    gaps: Sequence[float] | np.ndarray,
    *,
    blocks: Sequence[Any] | np.ndarray | None = None,
    confidence_level: float = 0.95,
) -> TrendResult:
    """Theil–Sen slope of gaps over numeric periods, its interval and Kendall's test.

    Parameters
    ----------
    periods
        Distinct numbers (period index, or days) for each gap.
    gaps
        Gap per period, in points.
    blocks
        A label per period (the rating round its employee side comes from); None: one block.
        The test and the slope use pairs of periods within a block only, so a switch of rounds
        is never read as a trend.
    confidence_level
        Confidence level of the slope's interval.

    Returns
    -------
    TrendResult
        ``n_periods``, ``slope``, ``slope_ci``, ``intercept``, ``kendall_tau`` (over the pairs
        compared), ``pvalue`` (two-sided, exact), ``reason``, ``n_blocks``.

    Notes
    -----
    Kendall's S = Σ sign(Δperiod)·sign(Δgap) over the pairs within each block, summed over
    blocks, as in the seasonal Kendall test (Hirsch, Slack & Smith 1982, Water Resources
    Research 18:107–121) with rounds as seasons. Its null distribution is exact: within a
    block of n periods S = n(n − 1)/2 − 2·inversions, whose distribution is Mahonian, and
    blocks add by convolution (ties count 0, which can only make the test conservative). The
    slope is the median of the within-block pairwise slopes (Sen 1968, JASA 63:1379–1389),
    its interval Sen's order statistics with Var S = Σ n(n − 1)(2n + 5)/18. From 4 periods and
    3 within-block pairs up; with fewer, everything but the counts is None and ``reason`` says
    why. τ and the p-value are None when the gaps are all equal.
    """
    _check_confidence_level(confidence_level)
    x = np.asarray(periods, dtype=float).reshape(-1)
    y = np.asarray(gaps, dtype=float).reshape(-1)
    labels = np.zeros(x.size) if blocks is None else np.asarray(blocks).reshape(-1)
    if x.size != y.size or labels.size != x.size:
        raise ValueError("periods, gaps and blocks differ in length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("periods and gaps must be finite numbers")
    if np.unique(x).size != x.size:
        raise ValueError("periods must be distinct")
    groups = [np.flatnonzero(labels == label) for label in _ordered_unique(labels)]
    sizes = [g.size for g in groups]
    pairs = sum(n * (n - 1) // 2 for n in sizes)
    if x.size < MIN_TREND_PERIODS or pairs < MIN_TREND_PAIRS:
        reason = (
            f"fewer than {MIN_TREND_PERIODS} periods"
            if x.size < MIN_TREND_PERIODS
            else f"fewer than {MIN_TREND_PAIRS} pairs of periods within a round"
        )
        return TrendResult(int(x.size), None, None, None, None, None, reason, len(groups))
    slopes, signs = [], 0.0
    for members in groups:
        i, j = np.triu_indices(members.size, k=1)
        dx = x[members][j] - x[members][i]
        dy = y[members][j] - y[members][i]
        slopes.append(dy / dx)
        signs += float(np.sum(np.sign(dx) * np.sign(dy)))
    every = np.sort(np.concatenate(slopes))
    slope = float(np.median(every))
    intercept = float(np.median(y - slope * x))
    variance = sum(n * (n - 1) * (2 * n + 5) / 18 for n in sizes)
    z = float(special.ndtri(0.5 + confidence_level / 2))
    spread = z * math.sqrt(variance)
    low_rank = int(np.clip(math.floor((every.size - spread) / 2), 0, every.size - 1))
    high_rank = int(np.clip(math.ceil((every.size + spread) / 2), 0, every.size - 1))
    interval = ConfidenceInterval(float(every[low_rank]), float(every[high_rank]))
    if np.ptp(y) == 0:
        tau = pvalue = None
    else:
        tau = signs / pairs
        pvalue = _kendall_pvalue(signs, sizes)
    return TrendResult(int(x.size), slope, interval, intercept, tau, pvalue, None, len(groups))


MIN_TREND_PAIRS = 3


def _ordered_unique(labels: np.ndarray) -> list[Any]:
    """Labels in order of first appearance."""
    return list(dict.fromkeys(labels.tolist()))


def _kendall_pvalue(statistic: float, sizes: Sequence[int]) -> float:
    """Exact two-sided P(|S| ≥ |s|) for S summed over independent blocks of these sizes."""
    distribution = np.ones(1)
    for n in sizes:
        inversions = np.ones(1)
        for k in range(2, n + 1):
            inversions = np.convolve(inversions, np.full(k, 1.0 / k))
        # S = n(n − 1)/2 − 2·inversions: reversed, on a grid of step 2 from −max to max.
        block = np.zeros(2 * inversions.size - 1)
        block[::2] = inversions[::-1]
        distribution = np.convolve(distribution, block)
    support = np.arange(distribution.size) - (distribution.size - 1) / 2
    extreme = np.abs(support) >= abs(statistic) - 1e-9
    return float(min(1.0, distribution[extreme].sum()))


TREND_COLUMNS: tuple[str, ...] = (
    "n_periods",
    "slope",
    "slope_low",
    "slope_high",
    "intercept",
    "kendall_tau",
    "pvalue",
    "reason",
    "n_blocks",
)

_TREND_SCHEMA: dict[str, Any] = {name: pl.Float64 for name in TREND_COLUMNS} | {
    "n_periods": pl.Int64,
    "n_blocks": pl.Int64,
    "reason": pl.String,
}


def gap_trend(
    per_period_gaps: pl.DataFrame,
    *,
    by: Sequence[str] | None = None,
    confidence_level: float = 0.95,
) -> pl.DataFrame:
    """Theil–Sen trend of the gap in every cell.

    Parameters
    ----------
    per_period_gaps
        A polars frame with the cell key columns, ``period`` (integer index, float, or
        Date — dates count in days) and ``gap`` (Float, points; null rows, e.g. suppressed
        periods, are skipped); optionally ``round_id``, the rating round each period's employee
        side comes from: pairs of periods are then compared within a round only (see
        ``theil_sen_trend``). Other columns such as ``standard_error`` are ignored. One row
        per cell and period.
    by
        The cell key columns; None: every column except ``period``, ``gap``,
        ``standard_error`` and ``round_id``.
    confidence_level
        Confidence level of the slope's interval.

    Returns
    -------
    polars.DataFrame
        One row per cell, sorted by ``by``; columns ``[*by, *TREND_COLUMNS]``: n_periods
        (Int64), slope, slope_low, slope_high, intercept, kendall_tau, pvalue (Float64, null
        when undefined), reason (String, null unless the slope is missing), n_blocks (Int64).
    """
    for name in ("period", "gap"):
        if name not in per_period_gaps.columns:
            raise ValueError(f"per_period_gaps has no column {name!r}")
    if by is None:
        skip = {"period", "gap", "standard_error", "round_id"}
        by = [name for name in per_period_gaps.columns if name not in skip]
    by = list(by)
    frame = per_period_gaps.filter(pl.col("gap").is_not_null())
    if frame.schema["period"] in (pl.Date, pl.Datetime):
        frame = frame.with_columns(pl.col("period").cast(pl.Date).cast(pl.Int64))
    rows = []
    groups = (
        frame.sort(by).partition_by(by, as_dict=True, maintain_order=True) if by else {(): frame}
    )
    for key, cell in groups.items():
        blocks = cell["round_id"].to_numpy() if "round_id" in cell.columns else None
        trend = theil_sen_trend(
            cell["period"].to_numpy(),
            cell["gap"].to_numpy(),
            blocks=blocks,
            confidence_level=confidence_level,
        )
        interval = trend.slope_ci or (None, None)
        rows.append(
            dict(zip(by, key, strict=True))
            | {n: getattr(trend, n) for n in TREND_COLUMNS if not n.startswith("slope_")}
            | {"slope_low": interval[0], "slope_high": interval[1]}
        )
    key_schema = {name: per_period_gaps.schema[name] for name in by}
    return pl.DataFrame(rows, schema=key_schema | _TREND_SCHEMA, orient="row")


@dataclass(frozen=True)
class GapChange:
    """Change of a gap between two periods: Δ = after − before, z = Δ/√(SE₁² + SE₂²)."""

    difference: float
    standard_error: float
    statistic: float | None
    pvalue: float | None


def gap_change(
    gap_before: float, standard_error_before: float, gap_after: float, standard_error_after: float
) -> GapChange:
    """Two-sided normal test of the change of a gap between two independent periods.

    Notes
    -----
    z = (gap_after − gap_before)/√(SE_before² + SE_after²), p = 2·(1 − Φ(|z|)). Statistic
    and p-value are None when both standard errors are 0. When both periods read the same
    rating round the employee side is the same ratings: pass the customer scores' standard
    errors (``GapResult.customer_standard_error``), or the employees' error counts twice.
    """
    values = (gap_before, standard_error_before, gap_after, standard_error_after)
    if not all(math.isfinite(v) for v in values):
        raise ValueError("gaps and standard errors must be finite numbers")
    if standard_error_before < 0 or standard_error_after < 0:
        raise ValueError("standard errors must not be negative")
    difference = gap_after - gap_before
    standard_error = math.hypot(standard_error_before, standard_error_after)
    if standard_error == 0:
        return GapChange(difference, 0.0, None, None)
    statistic = difference / standard_error
    return GapChange(
        difference, standard_error, statistic, float(2 * special.ndtr(-abs(statistic)))
    )
