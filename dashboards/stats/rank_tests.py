"""The Brunner–Munzel test of the relative effect, with its studentized permutation version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from dashboards.stats.intervals import ConfidenceInterval, _t_cdf, _t_quantile, _t_sf
from dashboards.stats.levels import (
    Scores,
    _aligned_counts,
    _check_confidence_level,
    level_counts,
)

Alternative = Literal["two-sided", "less", "greater"]

RELATIVE_EFFECT_CLAMP = 1e-4  # nparcomp / TOSTER: p̂ of 0 or 1 is replaced by 1e-4 or 1 - 1e-4
DF_FALLBACK = 1000.0  # nparcomp / TOSTER: Satterthwaite df when it is 0/0
PERMUTATION_BELOW = 15  # method="auto": permutation when the smaller group has fewer than this
_ZERO_VARIANCE = 1e-14  # placement variances below this are rounding noise of an exact zero
_CHUNK_CELLS = 2_000_000  # resamples x levels per vectorised permutation chunk


@dataclass(frozen=True)
class BrunnerMunzelResult:
    """Brunner–Munzel test of the relative effect p = P(X < Y) + ½·P(X = Y) against ½.

    ``statistic`` is positive when y tends to be larger. ``method`` is ``"t"`` or
    ``"permutation"``. ``standard_error`` is that of the relative effect.
    """

    statistic: float
    df: float
    pvalue: float
    relative_effect: float
    standard_error: float
    confidence_interval: ConfidenceInterval
    method: str


class _BMBatch(NamedTuple):
    """Brunner–Munzel quantities for a batch of count tables, one entry per table."""

    relative_effect: np.ndarray
    standard_error: np.ndarray
    statistic: np.ndarray
    df: np.ndarray


def _placement_variance(counts: np.ndarray, placements: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Sample variance of per-observation placements given counts per level (0 when n = 1)."""
    mean = (counts * placements).sum(axis=-1, keepdims=True) / n
    squares = (counts * (placements - mean) ** 2).sum(axis=-1)
    n = n[..., 0]
    variance = np.divide(squares, n - 1, out=np.zeros_like(squares), where=n > 1)
    return np.where(variance < _ZERO_VARIANCE, 0.0, variance)


def _brunner_munzel_batch(counts_x: np.ndarray, counts_y: np.ndarray) -> _BMBatch:
    """Brunner–Munzel estimate, SE, statistic and df for count tables of shape (..., levels).

    The placement of an x at level k is the share of y below k plus half the share of y at k,
    i.e. (pooled midrank − midrank within x) / n_y; likewise for y. With the guards of
    nparcomp and TOSTER: zero variance → N/(2·n_x·n_y) on the N-scaled variance, undefined
    df → 1000, and p̂ clamped to [1e-4, 1 − 1e-4] in the statistic.
    """
    n_x = counts_x.sum(axis=-1, keepdims=True)
    n_y = counts_y.sum(axis=-1, keepdims=True)
    placement_x = (np.cumsum(counts_y, axis=-1) - 0.5 * counts_y) / n_y
    placement_y = (np.cumsum(counts_x, axis=-1) - 0.5 * counts_x) / n_x
    relative_effect = (counts_y * placement_y).sum(axis=-1) / n_y[..., 0]
    s_x = _placement_variance(counts_x, placement_x, n_x) / n_x[..., 0]
    s_y = _placement_variance(counts_y, placement_y, n_y) / n_y[..., 0]
    df_denominator = _safe_ratio(s_x**2, n_x[..., 0] - 1) + _safe_ratio(s_y**2, n_y[..., 0] - 1)
    total = s_x + s_y
    df = np.divide(
        total**2, df_denominator, out=np.full_like(total, DF_FALLBACK), where=df_denominator > 0
    )
    fallback = 1.0 / (2.0 * n_x[..., 0] * n_y[..., 0])  # N/(2 n_x n_y) divided by N
    standard_error = np.sqrt(np.where(total > 0, total, fallback))
    clamped = np.clip(relative_effect, RELATIVE_EFFECT_CLAMP, 1 - RELATIVE_EFFECT_CLAMP)
    statistic = (clamped - 0.5) / standard_error
    return _BMBatch(relative_effect, standard_error, statistic, df)


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def brunner_munzel(
    x: Scores,
    y: Scores,
    *,
    alternative: Alternative = "two-sided",
    confidence_level: float = 0.95,
    method: Literal["auto", "t", "permutation"] = "auto",
    n_resamples: int = 9999,
    rng: np.random.Generator | int | None = None,
) -> BrunnerMunzelResult:
    """Brunner–Munzel test with a confidence interval for the relative effect.

    Parameters
    ----------
    x, y
        Scores, or counts per level.
    alternative
        As in ``scipy.stats.brunnermunzel``: ``"less"`` means x is stochastically smaller
        than y (p > ½), ``"greater"`` that x is stochastically greater (p < ½).
    confidence_level
        Confidence level of the interval (one-sided bound for a one-sided alternative).
    method
        ``"t"``: t approximation with Satterthwaite df. ``"permutation"``: the studentized
        permutation test of Neubert & Brunner (2007). ``"auto"``: permutation when the
        smaller group has fewer than 15 observations, else t.
    n_resamples
        Number of random permutations for the permutation method.
    rng
        Seed or ``numpy.random.Generator`` for the permutations.

    Returns
    -------
    BrunnerMunzelResult
        ``statistic``, ``df``, ``pvalue``, ``relative_effect``, ``standard_error``,
        ``confidence_interval`` (of the relative effect, clipped to [0, 1]), ``method``.

    Notes
    -----
    p̂ = (R̄_y − (n_y + 1)/2)/n_x from pooled midranks; σ̂² = s_x + s_y where s_x is the
    sample variance of the placements of x among y divided by n_x, and likewise for y;
    statistic (p̂ − ½)/σ̂ with df = σ̂⁴/(s_x²/(n_x − 1) + s_y²/(n_y − 1)).
    Brunner & Munzel (2000) Biometrical J 42:17–25. Degenerate data are guarded as in
    nparcomp (Konietschke et al. 2015) and TOSTER: variance 0 is replaced by
    N/(2·n_x·n_y) (N-scaled), undefined df by 1000, and the p̂ entering the statistic is
    clamped to [1e-4, 1 − 1e-4]; the reported ``relative_effect`` is the unclamped estimate.

    The permutation method draws y's counts from the pooled counts (multivariate
    hypergeometric), recomputes the studentized statistic for each draw, and reports the
    Monte-Carlo p-value (1 + #{T* at least as extreme})/(n_resamples + 1), doubled for
    two-sided. Its confidence interval inverts the studentized permutation distribution:
    p̂ − σ̂·q*_{1−α/2} … p̂ − σ̂·q*_{α/2} (Neubert & Brunner 2007, CSDA 51:5192–5204; as in
    nparcomp and TOSTER), except when every permutation gives the same statistic (all data
    equal), where the t interval is used. The t method's interval is p̂ ± t_{df,1−α/2}·σ̂.
    """
    _check_confidence_level(confidence_level)
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError("alternative must be 'two-sided', 'less' or 'greater'")
    if method not in ("auto", "t", "permutation"):
        raise ValueError("method must be 'auto', 't' or 'permutation'")
    _, counts_x, counts_y = _aligned_counts(level_counts(x, name="x"), level_counts(y, name="y"))
    observed = _brunner_munzel_batch(counts_x[None, :], counts_y[None, :])
    p_hat = float(observed.relative_effect[0])
    se = float(observed.standard_error[0])
    statistic = float(observed.statistic[0])
    df = float(observed.df[0])
    if method == "auto":
        small = min(counts_x.sum(), counts_y.sum()) < PERMUTATION_BELOW
        method = "permutation" if small else "t"
    if method == "t":
        pvalue = _t_pvalue(statistic, df, alternative)
        quantile = lambda q: _t_quantile(q, df)  # noqa: E731
    else:
        if n_resamples < 1:
            raise ValueError("n_resamples must be at least 1")
        null = _permutation_statistics(counts_x, counts_y, n_resamples, np.random.default_rng(rng))
        pvalue = _permutation_pvalue(statistic, null, alternative)
        quantile = lambda q: float(np.quantile(null, q))  # noqa: E731
        if np.ptp(null) == 0:  # one possible arrangement (pooled data constant): use t
            quantile = lambda q: _t_quantile(q, df)  # noqa: E731
    interval = _relative_effect_interval(p_hat, se, quantile, alternative, confidence_level)
    return BrunnerMunzelResult(statistic, df, pvalue, p_hat, se, interval, method)


def _t_pvalue(statistic: float, df: float, alternative: str) -> float:
    """p-value of a t statistic; 'greater' = x greater = statistic negative (scipy's sense)."""
    if alternative == "two-sided":
        return min(1.0, 2 * _t_sf(abs(statistic), df))
    if alternative == "greater":
        return _t_cdf(statistic, df)
    return _t_sf(statistic, df)


def _permutation_statistics(
    counts_x: np.ndarray, counts_y: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Studentized Brunner–Munzel statistics of random reallocations of the pooled counts."""
    pooled = (counts_x + counts_y).astype(np.int64)
    n_x, n_y = int(counts_x.sum()), int(counts_y.sum())
    way = "count" if pooled.sum() <= 1_000_000 else "marginals"
    chunk = max(1, _CHUNK_CELLS // pooled.size)
    parts = []
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        drawn = rng.multivariate_hypergeometric(pooled, min(n_x, n_y), size=size, method=way)
        drawn_x, drawn_y = (drawn, pooled - drawn) if n_x <= n_y else (pooled - drawn, drawn)
        parts.append(_brunner_munzel_batch(drawn_x.astype(float), drawn_y.astype(float)).statistic)
    return np.concatenate(parts)


def _permutation_pvalue(statistic: float, null: np.ndarray, alternative: str) -> float:
    """Monte-Carlo p-value (1 + count)/(B + 1), ties counted as at least as extreme."""
    tolerance = 1e-9 * max(1.0, abs(statistic))
    at_most = (1 + np.count_nonzero(null <= statistic + tolerance)) / (null.size + 1)
    at_least = (1 + np.count_nonzero(null >= statistic - tolerance)) / (null.size + 1)
    if alternative == "two-sided":
        return float(min(1.0, 2 * min(at_most, at_least)))
    return float(at_most if alternative == "greater" else at_least)


def _relative_effect_interval(
    p_hat: float, se: float, quantile: Any, alternative: str, confidence_level: float
) -> ConfidenceInterval:
    """p̂ − σ̂·q(1 − α/2) … p̂ − σ̂·q(α/2) (one bound for one-sided), clipped to [0, 1]."""
    alpha = 1 - confidence_level
    low, high = 0.0, 1.0
    if alternative in ("two-sided", "less"):
        tail = alpha / 2 if alternative == "two-sided" else alpha
        low = p_hat - se * quantile(1 - tail)
    if alternative in ("two-sided", "greater"):
        tail = alpha / 2 if alternative == "two-sided" else alpha
        high = p_hat - se * quantile(tail)
    low, high = max(0.0, min(low, p_hat)), min(1.0, max(high, p_hat))
    return ConfidenceInterval(low, high)
