"""A department's or the organisation's gap: a weighted mean of cell gaps, uncertain by rater.

Each cell (a step's question) is put on 0–100 points and compared on its own; the pooled gap
is Σ w_c·(employee score_c − customer score_c) with the same weights on both sides, so the
mix of steps cannot invent a gap, and scales are never pooled raw. One rater's answers on
several cells move together, so the employee side is resampled rater by rater.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any, NamedTuple

import numpy as np

from dashboards.stats.gaps import GapResult, suppressed_gap
from dashboards.stats.intervals import ConfidenceInterval, dirichlet_means
from dashboards.stats.levels import Scores, _check_confidence_level, _check_scale, _scale_counts
from dashboards.stats.seeding import seeded
from dashboards.stats.verdicts import VERDICT_MIN_RATERS, verdict

POOLED_METHOD = "rater bootstrap"


def pooled_gap(
    customers: Mapping[Hashable, Scores],
    employees: Mapping[Any, Mapping[Hashable, float]],
    *,
    scales: Mapping[Hashable, tuple[float, float]],
    weights: Mapping[Hashable, float] | None = None,
    confidence_level: float = 0.95,
    min_employees: int = 5,
    verdict_min_raters: int = VERDICT_MIN_RATERS,
    rng: np.random.Generator | int | None = None,
    n_draws: int = 4000,
    key: Any = (),
) -> GapResult:
    """Weighted mean of cell gaps with a rater-level interval and p-value.

    Parameters
    ----------
    customers
        Cell key → customer scores (or counts per level) on the cell's scale.
    employees
        Opaque rater id → {cell key → the rater's level}. Ids only group a rater's answers:
        they never reach the result, and renaming them changes nothing.
    scales
        Cell key → ``(low, high)``. Cells outside it are ignored.
    weights
        Cell key → non-negative weight; None: each cell's share of the customer responses.
        Only cells with customers and employee ratings count; weights are renormalised over
        them.
    confidence_level
        Two-sided level of ``gap_ci``.
    min_employees
        Anonymity threshold on distinct raters (at least 3).
    verdict_min_raters
        Fewer raters than this make the verdict ``"indicative"``.
    rng
        None (default: seeded from ``key`` and the data), an integer, or a Generator.
    n_draws
        Posterior draws.
    key
        What the result speaks for (e.g. the department's key), mixed into the seed.

    Returns
    -------
    GapResult
        ``gap``, ``gap_ci``, ``standard_error`` (of the draws), ``customer_score``,
        ``employee_score`` (weighted means, points), ``n_customers``, ``n_employees``
        (distinct raters), ``pvalue`` (the interval inverted: twice the smaller share of draws
        on one side of 0), ``method`` ``"rater bootstrap"``, ``verdict``; the rank statistics
        are None (they have no pooled meaning).

    Notes
    -----
    Employee side: the Bayesian bootstrap over raters (Rubin 1981, Ann Stat 9:130–134) —
    each draw gives rater r a Gamma(1) weight shared by all the cells r rated, so a rater's
    correlated answers move together — with the cells' prior of ``dirichlet_gap_interval``:
    weight 1, half on each of two pseudo-raters placed at 50 ∓ 50·√ρ̂ points on every cell. ρ̂ is
    the variance of the raters' weighted summaries over the variance they would have if every
    rater's answers moved in lockstep ((Σ w_c·s_c)²), clipped to [0, 1] (1 when no cell
    varies): for one cell, or perfectly correlated cells, the pseudo-raters sit at the ends of
    the scale, as for a cell; for cells that vary independently they come as close to the
    middle as the averaging shrinks the raters' spread. The prior widens the interval; it
    does not move it: the draws are recentred on the observed gap. Customer side: each cell's
    Dirichlet draws as in ``dirichlet_gap_interval``. docs/statistics.md shows the coverage.
    """
    _check_confidence_level(confidence_level)
    if min_employees < 3:
        raise ValueError("min_employees must be at least 3")
    cells = sorted(scales, key=repr)
    counts = {
        c: _scale_counts(customers.get(c, ()), f"customers[{c!r}]", *_check_scale(scales[c]))
        for c in cells
    }
    rated = {c for ratings in employees.values() for c in ratings if c in scales}
    used = [c for c in cells if counts[c].n > 0 and c in rated]
    raters = [r for r in employees if any(c in used for c in employees[r])]
    n_customers = sum(counts[c].n for c in cells)
    if not used:
        reason = "no customer ratings" if rated else "no employee ratings"
        return suppressed_gap(n_customers, len(raters), None, None, reason)
    w = _weights(used, counts, weights)
    low = np.array([_check_scale(scales[c])[0] for c in used])
    span = np.array([_check_scale(scales[c])[1] for c in used]) - low
    customer_means = np.array([counts[c].levels @ counts[c].counts / counts[c].n for c in used])
    customer_points = 100 * (customer_means - low) / span
    customer_score = float(w @ customer_points)
    customer_se = _customer_standard_error(used, counts, w, span)
    if len(raters) < min_employees:
        reason = f"fewer than {min_employees} raters"
        return suppressed_gap(n_customers, len(raters), customer_score, None, reason, customer_se)
    matrix = np.full((len(raters), len(used)), np.nan)
    for i, rater in enumerate(raters):
        for j, cell in enumerate(used):
            if cell in employees[rater]:
                matrix[i, j] = employees[rater][cell]
    if np.any((matrix < low) | (matrix > low + span)):
        raise ValueError("an employee rating lies outside its cell's scale")
    # Raters in an order set by their answers alone: ids and their order change nothing.
    points = 100 * (matrix - low) / span
    points = points[np.lexsort(np.nan_to_num(points, nan=-1.0).T[::-1])]
    # The result depends on these alone: kept by them, a view seen again draws nothing anew.
    memo = (
        None
        if isinstance(rng, np.random.Generator)
        else (
            rng,
            repr(key),
            tuple(repr(c) for c in used),
            w.tobytes(),
            tuple(counts[c].frozen() for c in used),
            low.tobytes(),
            span.tobytes(),
            points.shape,
            points.tobytes(),
            confidence_level,
            n_draws,
            verdict_min_raters,
            n_customers,
        )
    )
    if memo is not None and memo in _POOLED:
        return _POOLED[memo]
    result = _drawn_gap(
        rng,
        key,
        used,
        w,
        counts,
        scales,
        points,
        n_customers,
        customer_score,
        customer_se,
        confidence_level=confidence_level,
        n_draws=n_draws,
        verdict_min_raters=verdict_min_raters,
    )
    if memo is not None:
        if len(_POOLED) >= POOLED_KEPT:
            _POOLED.clear()
        _POOLED[memo] = result
    return result


POOLED_KEPT = 4096
_POOLED: dict[tuple, GapResult] = {}


def _drawn_gap(
    rng: np.random.Generator | int | None,
    key: Any,
    used: list[Hashable],
    w: np.ndarray,
    counts: Mapping[Hashable, Any],
    scales: Mapping[Hashable, tuple[float, float]],
    points: np.ndarray,
    n_customers: int,
    customer_score: float,
    customer_se: float | None,
    *,
    confidence_level: float,
    n_draws: int,
    verdict_min_raters: int,
) -> GapResult:
    """The pooled gap's draws, interval, p-value and verdict from its prepared inputs."""
    generator = seeded(rng, key, [repr(c) for c in used], w, [counts[c] for c in used], points)
    customer_draws = np.zeros(n_draws)
    for j, cell in enumerate(used):
        scale = _check_scale(scales[cell])
        means = dirichlet_means(counts[cell], scale=scale, n_draws=n_draws, rng=generator)
        customer_draws += w[j] * 100 * (means - scale[0]) / (scale[1] - scale[0])
    batch = rater_batch(
        points[None],
        customer_draws[None],
        np.array([customer_score]),
        w,
        confidence_level=confidence_level,
        rng=generator,
    )
    employee_score = float(batch.employee_score[0])
    interval = ConfidenceInterval(float(batch.low[0]), float(batch.high[0]))
    pvalue = float(batch.pvalue[0])
    rated_mask = ~np.isnan(points)
    one_level = np.unique(points[rated_mask]).size == 1
    return GapResult(
        n_customers=n_customers,
        n_employees=points.shape[0],
        customer_score=customer_score,
        employee_score=employee_score,
        gap=employee_score - customer_score,
        gap_ci=interval,
        standard_error=float(batch.standard_error[0]),
        relative_effect=None,
        relative_effect_ci=None,
        pvalue=pvalue,
        method=POOLED_METHOD,
        cliffs_delta=None,
        magnitude=None,
        suppressed=False,
        suppressed_reason=None,
        verdict=verdict(
            suppressed=False,
            raters=points.shape[0],
            one_level=one_level,
            low=interval.low,
            high=interval.high,
            qvalue=pvalue,
            min_raters=verdict_min_raters,
        ),
        customer_standard_error=customer_se,
    )


def _weights(
    used: list[Hashable], counts: Mapping[Hashable, Any], weights: Mapping[Hashable, float] | None
) -> np.ndarray:
    """Cell weights over the used cells, summing to 1 (default: customer shares)."""
    if weights is None:
        raw = np.array([counts[c].n for c in used], dtype=float)
    else:
        raw = np.array([float(weights.get(c, 0.0)) for c in used])
        if not np.all(np.isfinite(raw)) or np.any(raw < 0):
            raise ValueError("weights must be non-negative numbers")
    if raw.sum() <= 0:
        raise ValueError("weights of the compared cells sum to 0")
    return raw / raw.sum()


def _customer_standard_error(
    used: list[Hashable], counts: Mapping[Hashable, Any], w: np.ndarray, span: np.ndarray
) -> float | None:
    """Standard error of the weighted customer score (cells independent), points."""
    total = 0.0
    for j, cell in enumerate(used):
        data = counts[cell]
        if data.n < 2:
            return None
        mean = data.levels @ data.counts / data.n
        variance = data.counts @ (data.levels - mean) ** 2 / (data.n - 1)
        total += (w[j] * 100 / span[j]) ** 2 * variance / data.n
    return math.sqrt(total)


class RaterBatch(NamedTuple):
    """Pooled gaps of many data sets at once (arrays over data sets)."""

    employee_score: np.ndarray
    gap: np.ndarray
    low: np.ndarray
    high: np.ndarray
    pvalue: np.ndarray
    standard_error: np.ndarray


def rater_batch(
    points: np.ndarray,
    customer_draws: np.ndarray,
    customer_score: np.ndarray,
    w: np.ndarray,
    *,
    confidence_level: float,
    rng: np.random.Generator,
) -> RaterBatch:
    """The pooled gap's interval and p-value for data sets of the same shape, vectorised.

    ``points``: (sets, raters, cells), employee ratings in points, NaN where a rater did not
    rate a cell; ``customer_draws``: (sets, draws) of the weighted customer score;
    ``customer_score``: (sets,); ``w``: (cells,) weights summing to 1. ``pooled_gap`` calls it
    with one set; simulations with thousands.
    """
    rated = ~np.isnan(points)
    n_draws = customer_draws.shape[-1]
    employee_score = np.nanmean(points, axis=1) @ w
    gap = employee_score - customer_score
    draws = _employee_draws(points, rated, w, n_draws, rng) - customer_draws
    draws += (gap - draws.mean(axis=-1))[:, None]
    tail = (1 - confidence_level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail], axis=-1)
    below = (1 + np.count_nonzero(draws <= 0, axis=-1)) / (n_draws + 1)
    above = (1 + np.count_nonzero(draws >= 0, axis=-1)) / (n_draws + 1)
    pvalue = np.minimum(1.0, 2 * np.minimum(below, above))
    return RaterBatch(
        employee_score,
        gap,
        np.maximum(-100.0, low),
        np.minimum(100.0, high),
        pvalue,
        draws.std(axis=-1),
    )


def _employee_draws(
    points: np.ndarray,
    rated: np.ndarray,
    w: np.ndarray,
    n_draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draws of the weighted employee score: raters' shared weights plus two pseudo-raters."""
    sets, n_raters, _ = points.shape
    filled = np.where(rated, points, 0.0)
    half = 50.0 * np.sqrt(_lockstep_share(points, rated, w))[:, None, None]
    rater_weights = rng.standard_gamma(1.0, size=(sets, n_draws, n_raters))
    below = rng.standard_gamma(0.5, size=(sets, n_draws, 1))
    above = rng.standard_gamma(0.5, size=(sets, n_draws, 1))
    numerator = rater_weights @ filled + below * (50.0 - half) + above * (50.0 + half)
    denominator = rater_weights @ rated.astype(float) + below + above
    return (numerator / denominator) @ w


def _lockstep_share(points: np.ndarray, rated: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ρ̂ per set: variance of raters' weighted summaries over (Σ w_c·s_c)², in [0, 1]."""
    if points.shape[-1] == 1:
        return np.ones(points.shape[0])
    n = rated.sum(axis=1)
    means = np.where(rated, points, 0.0).sum(axis=1) / np.maximum(n, 1)
    deviations = np.where(rated, points - means[:, None, :], 0.0)
    spreads = np.sqrt((deviations**2).sum(axis=1) / np.maximum(n - 1, 1))
    lockstep = (spreads @ w) ** 2
    summaries = np.where(rated, points, means[:, None, :]) @ w
    spread = summaries.var(axis=1, ddof=1) if points.shape[1] > 1 else np.zeros(points.shape[0])
    share = np.divide(spread, lockstep, out=np.ones_like(lockstep), where=lockstep > 0)
    return np.clip(share, 0.0, 1.0)
