"""Adjusted p-values for many tests at once: Benjamini–Hochberg and friends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np


def adjust_pvalues(
    pvalues: Sequence[float] | np.ndarray,
    *,
    method: Literal["bh", "by", "holm", "bonferroni"] = "bh",
) -> np.ndarray:
    """Adjust p-values for multiple comparisons; returns a float64 numpy array in input order.

    Parameters
    ----------
    pvalues
        Raw p-values in [0, 1] (no NaN).
    method
        ``"bh"`` Benjamini–Hochberg (1995) false discovery rate; ``"by"`` Benjamini–Yekutieli
        (2001), valid under any dependence; ``"holm"`` Holm (1979) step-down family-wise;
        ``"bonferroni"``.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, capped at 1, in the order of the input.

    Notes
    -----
    With p₍ᵢ₎ sorted ascending and m tests: BH q₍ᵢ₎ = min_{j≥i} m·p₍ⱼ₎/j; BY multiplies BH by
    Σ_{k≤m} 1/k; Holm q₍ᵢ₎ = max_{j≤i} (m − j + 1)·p₍ⱼ₎; Bonferroni m·p. Agrees with R
    ``p.adjust`` and ``scipy.stats.false_discovery_control``.
    """
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    if p.size == 0:
        raise ValueError("pvalues is empty")
    if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("pvalues must be numbers between 0 and 1")
    m = p.size
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    rank = np.arange(1, m + 1)
    if method in ("bh", "by"):
        adjusted = np.minimum.accumulate((ranked * m / rank)[::-1])[::-1]
        if method == "by":
            adjusted = adjusted * np.sum(1.0 / rank)
    elif method == "holm":
        adjusted = np.maximum.accumulate(ranked * (m - rank + 1))
    elif method == "bonferroni":
        adjusted = ranked * m
    else:
        raise ValueError("method must be 'bh', 'by', 'holm' or 'bonferroni'")
    result = np.empty(m)
    result[order] = np.minimum(adjusted, 1.0)
    return result
