"""Cliff's delta and the Romano et al. (2006) labels of its size."""

from __future__ import annotations

from dataclasses import dataclass

from dashboards.stats.intervals import ConfidenceInterval
from dashboards.stats.levels import Scores
from dashboards.stats.rank_tests import brunner_munzel


@dataclass(frozen=True)
class CliffsDeltaResult:
    """Cliff's delta P(X > Y) − P(X < Y), its Romano et al. (2006) label and interval."""

    delta: float
    magnitude: str
    confidence_interval: ConfidenceInterval


def delta_magnitude(delta: float) -> str:
    """Romano et al. (2006) label of |delta|: negligible, small, medium or large."""
    size = round(abs(delta), 12)
    if size < 0.147:
        return "negligible"
    if size < 0.33:
        return "small"
    if size < 0.474:
        return "medium"
    return "large"


def cliffs_delta(x: Scores, y: Scores, *, confidence_level: float = 0.95) -> CliffsDeltaResult:
    """Cliff's delta of x against y, P(X > Y) − P(X < Y), with a confidence interval.

    Parameters
    ----------
    x, y
        Scores, or counts per level.
    confidence_level
        Two-sided confidence level.

    Returns
    -------
    CliffsDeltaResult
        ``delta``, ``magnitude`` (Romano et al. 2006: negligible < 0.147 ≤ small < 0.33 ≤
        medium < 0.474 ≤ large, on |delta|) and ``confidence_interval``.

    Notes
    -----
    delta = 1 − 2·p̂ where p̂ = P(X < Y) + ½·P(X = Y) is the Brunner–Munzel relative effect;
    the interval is the Brunner–Munzel t interval of p̂ (Satterthwaite df) mapped through
    p ↦ 1 − 2p, so it is range-preserving in [−1, 1]. Cliff (1993) Psychol Bull 114:494–509;
    Romano et al. (2006), Annual meeting of the Florida Association of Institutional Research.
    """
    result = brunner_munzel(x, y, confidence_level=confidence_level, method="t")
    delta = 1 - 2 * result.relative_effect
    low, high = result.confidence_interval
    return CliffsDeltaResult(
        delta, delta_magnitude(delta), ConfidenceInterval(1 - 2 * high, 1 - 2 * low)
    )
