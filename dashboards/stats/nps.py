"""Net Promoter Score with Wald, adjusted Wald (Rocks 2016) and Tango score intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize, special

from dashboards.stats.intervals import ConfidenceInterval
from dashboards.stats.levels import Scores, _check_confidence_level, level_counts


@dataclass(frozen=True)
class NPSResult:
    """Net Promoter Score on −100…100 with its interval.

    ``variance`` is the per-respondent variance of the −100/0/+100 score (points²; Rocks'
    −1/0/+1 variance × 100²); ``standard_error`` = √(variance/n) is the Wald standard error of
    ``score`` in points. Both describe the plain score whatever the interval ``method``.
    """

    score: float
    n: int
    promoters: int
    passives: int
    detractors: int
    variance: float
    standard_error: float
    confidence_interval: ConfidenceInterval
    method: str


def nps(
    scores: Scores,
    *,
    confidence_level: float = 0.95,
    method: Literal["adjusted-wald", "wald", "score"] = "adjusted-wald",
) -> NPSResult:
    """Net Promoter Score (promoters 9–10 minus detractors 0–6, in %) with an interval.

    Parameters
    ----------
    scores
        Scores 0–10, or counts per level.
    confidence_level
        Two-sided confidence level.
    method
        ``"adjusted-wald"`` (default; Rocks 2016), ``"wald"`` or ``"score"`` (Tango).

    Returns
    -------
    NPSResult
        ``score``, ``n``, ``promoters``, ``passives``, ``detractors``, ``variance``,
        ``standard_error``, ``confidence_interval`` (clipped to −100…100), ``method``.

    Notes
    -----
    With proportions p₊ (promoters) and p₋ (detractors), NPS = p₊ − p₋ and the per-respondent
    variance is (p₊ + p₋) − (p₊ − p₋)² (Rocks, R package NPS). ``"wald"``: NPS ± z·√(var/n).
    ``"adjusted-wald"``: add 0.75 promoters, 1.5 passives and 0.75 detractors (n + 3) and
    form the Wald interval from the adjusted proportions (Rocks 2016, The American
    Statistician 70:365–372); its centre is shrunk towards 0, so for n = 1 it does not contain
    the observed ±100. ``"score"``: the interval {Δ : |Z(Δ)| ≤ z} of Tango's score statistic
    for a difference of two proportions of one multinomial sample, Z(Δ) = (n₊ − n₋ − nΔ) /
    √(n(2q̃ + Δ(1 − Δ))), q̃ the restricted MLE of p₋ (Tango 1998, Stat Med 17:891–908),
    found by root finding.
    """
    _check_confidence_level(confidence_level)
    data = level_counts(scores, name="scores")
    levels = data.levels
    if np.any((levels < 0) | (levels > 10) | (levels != np.round(levels))):
        raise ValueError("scores must be whole numbers from 0 to 10")
    promoters = int(data.counts[levels >= 9].sum())
    detractors = int(data.counts[levels <= 6].sum())
    n = data.n
    passives = n - promoters - detractors
    z = float(special.ndtri(0.5 + confidence_level / 2))
    estimate, variance = _nps_moments(promoters, detractors, n)
    if method == "wald":
        low, high = _wald(estimate, variance, n, z)
    elif method == "adjusted-wald":
        adjusted, adjusted_variance = _nps_moments(promoters + 0.75, detractors + 0.75, n + 3)
        low, high = _wald(adjusted, adjusted_variance, n + 3, z)
    elif method == "score":
        low, high = _tango_interval(promoters, detractors, n, z)
    else:
        raise ValueError("method must be 'adjusted-wald', 'wald' or 'score'")
    interval = ConfidenceInterval(100 * max(-1.0, low), 100 * min(1.0, high))
    se = 100 * math.sqrt(variance / n)
    return NPSResult(
        100 * estimate, n, promoters, passives, detractors, 1e4 * variance, se, interval, method
    )


def _nps_moments(promoters: float, detractors: float, n: float) -> tuple[float, float]:
    """NPS on −1…1 and per-respondent variance (p₊ + p₋) − (p₊ − p₋)²."""
    p_pro, p_det = promoters / n, detractors / n
    estimate = p_pro - p_det
    return estimate, max(0.0, p_pro + p_det - estimate**2)


def _wald(estimate: float, variance: float, n: float, z: float) -> tuple[float, float]:
    """estimate ± z·√(variance/n)."""
    half_width = z * math.sqrt(variance / n)
    return estimate - half_width, estimate + half_width


def _tango_z(delta: float, promoters: int, detractors: int, n: int) -> float:
    """Tango's score statistic for NPS = delta (on −1…1)."""
    a = 2 * n
    b = -promoters - detractors + (2 * n - promoters + detractors) * delta
    c = -detractors * delta * (1 - delta)
    q = (math.sqrt(max(0.0, b * b - 4 * a * c)) - b) / (2 * a)
    numerator = promoters - detractors - n * delta
    variance = n * (2 * q + delta * (1 - delta))
    if variance <= 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / math.sqrt(variance)


def _tango_interval(promoters: int, detractors: int, n: int, z: float) -> tuple[float, float]:
    """Bounds of Tango's score interval, found by Brent's method on each side of the estimate."""
    estimate = (promoters - detractors) / n
    edge = 1 - 1e-12

    def excess(delta: float) -> float:
        return abs(_tango_z(delta, promoters, detractors, n)) - z

    low = (
        -1.0
        if estimate <= -edge or excess(-edge) <= 0
        else optimize.brentq(excess, -edge, estimate)
    )
    high = 1.0 if estimate >= edge or excess(edge) <= 0 else optimize.brentq(excess, estimate, edge)
    return low, high
