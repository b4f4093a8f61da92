"""Intervals for a difference of means: Welch's t and the studentized bootstrap."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from scipy import special

from dashboards.stats.levels import (
    LevelCounts,
    Scores,
    _check_confidence_level,
    _check_scale,
    _moments,
    _scale_counts,
    level_counts,
)


class ConfidenceInterval(NamedTuple):
    """A confidence interval ``(low, high)``."""

    low: float
    high: float


@dataclass(frozen=True)
class WelchResult:
    """Welch's unequal-variance t-test of mean x − mean y.

    ``statistic``, ``df``, ``pvalue``, ``standard_error`` and ``confidence_interval`` are
    None when a group has a single observation; all but ``standard_error`` (then 0) are None
    when both groups are constant.
    """

    statistic: float | None
    df: float | None
    pvalue: float | None
    difference: float
    standard_error: float | None
    confidence_interval: ConfidenceInterval | None


def welch_gap(x: Scores, y: Scores, *, confidence_level: float = 0.95) -> WelchResult:
    """Welch's t-test and confidence interval for the difference of means, x − y.

    Parameters
    ----------
    x, y
        Scores, or counts per level.
    confidence_level
        Two-sided confidence level of the interval.

    Returns
    -------
    WelchResult
        ``statistic``, ``df``, ``pvalue`` (two-sided), ``difference`` (mean x − mean y),
        ``standard_error`` and ``confidence_interval`` of the difference.

    Notes
    -----
    SE = √(s_x²/n_x + s_y²/n_y); t = (x̄ − ȳ)/SE; Welch–Satterthwaite
    df = SE⁴ / ((s_x²/n_x)²/(n_x − 1) + (s_y²/n_y)²/(n_y − 1)); CI = (x̄ − ȳ) ± t_{df,1−α/2}·SE.
    Welch (1947) Biometrika 34:28–35. Agrees with R ``t.test(x, y)`` and
    ``scipy.stats.ttest_ind(x, y, equal_var=False)``.
    """
    _check_confidence_level(confidence_level)
    difference, standard_error, df = _welch_parts(
        level_counts(x, name="x"), level_counts(y, name="y")
    )
    if standard_error is None or df is None:
        return WelchResult(None, None, None, difference, standard_error, None)
    statistic = difference / standard_error
    pvalue = 2 * _t_sf(abs(statistic), df)
    half_width = _t_quantile(0.5 + confidence_level / 2, df) * standard_error
    interval = ConfidenceInterval(difference - half_width, difference + half_width)
    return WelchResult(statistic, df, pvalue, difference, standard_error, interval)


def _welch_parts(x: LevelCounts, y: LevelCounts) -> tuple[float, float | None, float | None]:
    """Return (mean x − mean y, Welch SE, Welch–Satterthwaite df).

    SE and df are None when a group has one observation; df is None when SE is 0.
    """
    n_x, mean_x, var_x = _moments(x)
    n_y, mean_y, var_y = _moments(y)
    difference = mean_x - mean_y
    if var_x is None or var_y is None:
        return difference, None, None
    a, b = var_x / n_x, var_y / n_y
    if a + b <= 0:
        return difference, 0.0, None
    df = (a + b) ** 2 / (a**2 / (n_x - 1) + b**2 / (n_y - 1))
    return difference, math.sqrt(a + b), df


def _t_quantile(q: float, df: float) -> float:
    """Quantile of Student's t (scipy.special.stdtrit: fast for scalars)."""
    return float(special.stdtrit(df, q))


def _t_cdf(t: float, df: float) -> float:
    """Distribution function of Student's t."""
    return float(special.stdtr(df, t))


def _t_sf(t: float, df: float) -> float:
    """Survival function of Student's t, accurate in the upper tail."""
    return float(special.stdtr(df, -t))


def bootstrap_t_interval(
    x: Scores,
    y: Scores,
    *,
    confidence_level: float = 0.95,
    n_resamples: int = 999,
    rng: np.random.Generator | int | None = None,
) -> ConfidenceInterval | None:
    """Studentized-bootstrap (bootstrap-t) interval for mean x − mean y; None if SE is 0.

    Parameters
    ----------
    x, y
        Scores, or counts per level.
    confidence_level
        Two-sided confidence level.
    n_resamples
        Number of bootstrap resamples.
    rng
        Seed or ``numpy.random.Generator``.

    Returns
    -------
    ConfidenceInterval or None
        None when Welch's standard error is 0 or undefined (a group of one, or both constant).

    Notes
    -----
    Each group is resampled with replacement within itself — a multinomial draw of its counts
    from its observed level proportions — and the Welch statistic
    t* = (d* − d̂)/SE* is recomputed; the interval is d̂ − q*_{1−α/2}·SE … d̂ − q*_{α/2}·SE
    (Efron & Tibshirani 1993, ch. 12; Hall 1988, Ann Stat 16:927–953). Unlike the Welch
    interval it follows the skewness of the data, which matters for ceiling-heavy ratings from
    few raters. A resample with SE* = 0 counts as t* = ±∞ (0 if d* = d̂).
    """
    _check_confidence_level(confidence_level)
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    x, y = level_counts(x, name="x"), level_counts(y, name="y")
    difference, standard_error, _ = _welch_parts(x, y)
    if not standard_error:
        return None
    generator = np.random.default_rng(rng)
    mean_x, var_x = _resampled_moments(x, n_resamples, generator)
    mean_y, var_y = _resampled_moments(y, n_resamples, generator)
    shift = mean_x - mean_y - difference
    se = np.sqrt(var_x / x.n + var_y / y.n)
    t = np.divide(shift, se, out=np.sign(shift) * _T_CAP, where=se > 0)
    low_q, high_q = np.quantile(
        np.clip(t, -_T_CAP, _T_CAP), [0.5 - confidence_level / 2, 0.5 + confidence_level / 2]
    )
    low = difference - high_q * standard_error
    high = difference - low_q * standard_error
    return ConfidenceInterval(min(low, difference), max(high, difference))


_T_CAP = 1e6  # stands in for an infinite bootstrap t (a resample with SE* = 0)


def _resampled_moments(
    data: LevelCounts, n_resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Means and sample variances of multinomial resamples of counted scores (same n)."""
    n = data.n
    centre = float(np.dot(data.levels, data.counts) / n)
    centred = data.levels - centre
    drawn = rng.multinomial(n, data.counts / n, size=n_resamples)
    shift = drawn @ centred / n
    variance = (drawn @ centred**2 - n * shift**2) / (n - 1)
    rounding = 1e-12 * (1 + float(np.max(centred**2)))
    return centre + shift, np.where(variance < rounding, 0.0, variance)


DirichletPrior = Literal["ends", "uniform"]


def dirichlet_gap_interval(
    x: Scores,
    y: Scores,
    *,
    scale: tuple[float, float],
    confidence_level: float = 0.95,
    n_draws: int = 4000,
    prior: DirichletPrior = "ends",
    rng: np.random.Generator | int | None = None,
) -> ConfidenceInterval:
    """Dirichlet–multinomial (Bayesian bootstrap) interval for mean x − mean y on a scale.

    Parameters
    ----------
    x, y
        Scores, or counts per level, each with at least one observation.
    scale
        ``(low, high)``: the ends of the scale.
    confidence_level
        Two-sided level: the interval is the central share of the draws.
    n_draws
        Draws of each group's distribution.
    prior
        ``"ends"`` (default): prior weight 1, half on each end of the scale.
        ``"uniform"``: prior weight 1 spread evenly over the scale's whole-number levels.
    rng
        Seed or ``numpy.random.Generator``.

    Returns
    -------
    ConfidenceInterval
        Of mean x − mean y in the scores' units. Never of zero width: the prior keeps some
        weight off the observed levels even when a group gave one level only.

    Notes
    -----
    Each group's level probabilities are drawn from Dirichlet(counts + prior) and the mean
    recomputed; the interval is the percentile interval of the differences (Rubin 1981,
    Ann Stat 9:130–134, the Bayesian bootstrap, with a prior of total weight 1). With a
    handful of raters the plain Bayesian bootstrap understates the variance of a mean by the
    factor (n − 1)/(n + 1) and gives no spread at all when every rater chose one level. A
    prior of weight 1 at the two ends of the scale adds back about the missing variance for
    ratings of ordinary spread (its variance is the largest the scale allows); spread evenly
    over the levels it adds too little with three raters. docs/statistics.md has the
    simulations that chose it.
    """
    _check_confidence_level(confidence_level)
    if n_draws < 1:
        raise ValueError("n_draws must be at least 1")
    low, high = _check_scale(scale)
    x = _scale_counts(x, "x", low, high)
    y = _scale_counts(y, "y", low, high)
    if x.n == 0 or y.n == 0:
        raise ValueError("x and y need at least one observation each")
    generator = np.random.default_rng(rng)
    draws = dirichlet_means(x, scale=(low, high), n_draws=n_draws, prior=prior, rng=generator)
    draws = draws - dirichlet_means(
        y, scale=(low, high), n_draws=n_draws, prior=prior, rng=generator
    )
    tail = (1 - confidence_level) / 2
    lower, upper = np.quantile(draws, [tail, 1 - tail])
    return ConfidenceInterval(float(lower), float(upper))


def dirichlet_means(
    data: LevelCounts,
    *,
    scale: tuple[float, float],
    n_draws: int,
    rng: np.random.Generator,
    prior: DirichletPrior = "ends",
) -> np.ndarray:
    """Draws of a group's mean score from Dirichlet(counts + prior) (see dirichlet_gap_interval)."""
    return dirichlet_mean_batch(
        data.levels, data.counts[None, :], scale=scale, n_draws=n_draws, rng=rng, prior=prior
    )[0]


def dirichlet_mean_batch(
    levels: np.ndarray,
    counts: np.ndarray,
    *,
    scale: tuple[float, float],
    n_draws: int,
    rng: np.random.Generator,
    prior: DirichletPrior = "ends",
) -> np.ndarray:
    """Mean draws for many groups on the same levels at once: counts (..., K) → (..., n_draws)."""
    low, high = scale
    if prior == "ends":
        extra_levels, extra_weight = np.array([low, high]), np.array([0.5, 0.5])
    elif prior == "uniform":
        extra_levels = np.arange(math.ceil(low), math.floor(high) + 1, dtype=float)
        extra_weight = np.full(extra_levels.size, 1.0 / extra_levels.size)
    else:
        raise ValueError("prior must be 'ends' or 'uniform'")
    support = np.union1d(levels, extra_levels)
    alpha = np.zeros((*counts.shape[:-1], support.size))
    alpha[..., np.searchsorted(support, levels)] += counts
    alpha[..., np.searchsorted(support, extra_levels)] += extra_weight
    shape = (*counts.shape[:-1], n_draws, support.size)
    gammas = rng.standard_gamma(alpha[..., None, :], size=shape)
    return gammas @ support / gammas.sum(axis=-1)


def dirichlet_variance(data: LevelCounts, *, scale: tuple[float, float], n: float) -> float:
    """Variance of the posterior mean when ``n`` ratings share ``data``'s proportions (ends prior).

    Notes
    -----
    For Dirichlet(α) with α₀ = Σα, the mean Σpₖxₖ has variance (Σᾱₖxₖ² − (Σᾱₖxₖ)²)/(α₀ + 1)
    with ᾱ = α/α₀: the planning counterpart of ``dirichlet_gap_interval``.
    """
    low, high = scale
    shares = data.counts / data.n if data.n else np.zeros(0)
    levels = np.concatenate([data.levels, [low, high]])
    alpha = np.concatenate([shares * n, [0.5, 0.5]])
    total = alpha.sum()
    mean = float(alpha @ levels / total)
    second = float(alpha @ levels**2 / total)
    return max(0.0, second - mean**2) / (total + 1)
