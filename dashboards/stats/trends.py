"""Trends of gaps over periods (Theil–Sen, Kendall's τ) and the change between two periods."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import special
from scipy import stats as sps

from dashboards.stats.levels import _check_confidence_level, _finite_or_none

MIN_TREND_PERIODS = 4


@dataclass(frozen=True)
class TrendResult:
    """Theil–Sen trend of a gap over periods with Kendall's τ test.

    ``slope`` is in points per unit of period (per period index, or per day for dates);
    slope fields are None with a ``reason`` when there are fewer than 4 periods.
    """

    n_periods: int
    slope: float | None
    slope_low: float | None
    slope_high: float | None
    intercept: float | None
    kendall_tau: float | None
    pvalue: float | None
    reason: str | None


def theil_sen_trend(
    periods: Sequence[float] | np.ndarray,
    gaps: Sequence[float] | np.ndarray,
    *,
    confidence_level: float = 0.95,
) -> TrendResult:
    """Theil–Sen slope of gaps over numeric periods, its interval and Kendall's τ p-value.

    Parameters
    ----------
    periods
        Distinct numbers (period index, or days) for each gap.
    gaps
        Gap per period, in points.
    confidence_level
        Confidence level of the slope's interval.

    Returns
    -------
    TrendResult
        ``n_periods``, ``slope``, ``slope_low``, ``slope_high``, ``intercept``,
        ``kendall_tau``, ``pvalue`` (two-sided, Kendall's τ-b test), ``reason``.

    Notes
    -----
    Sen (1968) JASA 63:1379–1389, via ``scipy.stats.theilslopes``; Kendall's τ via
    ``scipy.stats.kendalltau``. From 4 periods up; with fewer, everything but ``n_periods`` is
    None and ``reason`` says why. τ and its p-value are None when the gaps are all equal.
    """
    _check_confidence_level(confidence_level)
    x = np.asarray(periods, dtype=float).reshape(-1)
    y = np.asarray(gaps, dtype=float).reshape(-1)
    if x.size != y.size:
        raise ValueError("periods and gaps differ in length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("periods and gaps must be finite numbers")
    if np.unique(x).size != x.size:
        raise ValueError("periods must be distinct")
    if x.size < MIN_TREND_PERIODS:
        reason = f"fewer than {MIN_TREND_PERIODS} periods"
        return TrendResult(int(x.size), None, None, None, None, None, None, reason)
    fit = sps.theilslopes(y, x, alpha=confidence_level)
    tau = sps.kendalltau(x, y)
    return TrendResult(
        n_periods=int(x.size),
        slope=_finite_or_none(fit.slope),
        slope_low=_finite_or_none(fit.low_slope),
        slope_high=_finite_or_none(fit.high_slope),
        intercept=_finite_or_none(fit.intercept),
        kendall_tau=_finite_or_none(tau.statistic),
        pvalue=_finite_or_none(tau.pvalue),
        reason=None,
    )


TREND_COLUMNS: tuple[str, ...] = (
    "n_periods",
    "slope",
    "slope_low",
    "slope_high",
    "intercept",
    "kendall_tau",
    "pvalue",
    "reason",
)

_TREND_SCHEMA: dict[str, Any] = {name: pl.Float64 for name in TREND_COLUMNS} | {
    "n_periods": pl.Int64,
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
        periods, are skipped). Other columns such as ``standard_error`` are ignored. One row
        per cell and period.
    by
        The cell key columns; None: every column except ``period``, ``gap`` and
        ``standard_error``.
    confidence_level
        Confidence level of the slope's interval.

    Returns
    -------
    polars.DataFrame
        One row per cell, sorted by ``by``; columns ``[*by, *TREND_COLUMNS]``: n_periods
        (Int64), slope, slope_low, slope_high, intercept, kendall_tau, pvalue (Float64, null
        when undefined), reason (String, null unless the slope is missing).
    """
    for name in ("period", "gap"):
        if name not in per_period_gaps.columns:
            raise ValueError(f"per_period_gaps has no column {name!r}")
    if by is None:
        skip = {"period", "gap", "standard_error"}
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
        trend = theil_sen_trend(
            cell["period"].to_numpy(), cell["gap"].to_numpy(), confidence_level=confidence_level
        )
        rows.append(dict(zip(by, key, strict=True)) | {n: getattr(trend, n) for n in TREND_COLUMNS})
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
    and p-value are None when both standard errors are 0.
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
