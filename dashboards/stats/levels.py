"""Inputs of every statistic: scores or counts per level, normalised to counts per level.

Every function that takes scores also takes counts per level, either a mapping
``{level: count}`` or a pair of arrays ``(levels, counts)``, and gives the same result.
Everything is computed from level counts (ranks are midranks of tied levels), never from
expanded raw vectors, so a million customers cost no more than a hundred.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

Scores = Any  # a sequence of scores, a {level: count} mapping or a (levels, counts) pair


class LevelCounts(NamedTuple):
    """Distinct score levels (increasing, float) and their positive counts (int64)."""

    levels: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        """Number of observations."""
        return int(self.counts.sum())

    def frozen(self) -> tuple[tuple[float, ...], tuple[int, ...]]:
        """Levels and counts as tuples: a hashable key of the data."""
        return tuple(self.levels.tolist()), tuple(self.counts.tolist())

    @classmethod
    def thawed(cls, frozen: tuple[tuple[float, ...], tuple[int, ...]]) -> LevelCounts:
        """The counts a `frozen` key holds."""
        return cls(np.array(frozen[0], dtype=float), np.array(frozen[1], dtype=np.int64))


def level_counts(data: Scores, *, name: str = "data", allow_empty: bool = False) -> LevelCounts:
    """Normalise scores, a ``{level: count}`` mapping or a ``(levels, counts)`` pair to counts.

    Parameters
    ----------
    data
        A one-dimensional sequence of scores; or a mapping from level to count; or a pair
        ``(levels, counts)`` of equally long one-dimensional arrays. Repeated levels are
        merged, zero counts dropped.
    name
        Argument name used in error messages ("x is empty").
    allow_empty
        Return an empty result instead of raising when there are no observations.

    Returns
    -------
    LevelCounts
        ``levels`` strictly increasing float64, ``counts`` positive int64.
    """
    if isinstance(data, LevelCounts):
        if data.n == 0 and not allow_empty:
            raise ValueError(f"{name} is empty")
        return data
    levels, counts = _split_input(data, name)
    if levels.shape != counts.shape:
        raise ValueError(f"{name}: levels and counts differ in length")
    if not np.all(np.isfinite(levels)):
        raise ValueError(f"{name} contains a score that is not a finite number")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError(f"{name}: counts must be non-negative whole numbers")
    distinct, position = np.unique(levels, return_inverse=True)
    merged = np.zeros(distinct.size, dtype=np.int64)
    np.add.at(merged, position.reshape(-1), counts.astype(np.int64))
    keep = merged > 0
    if not keep.any() and not allow_empty:
        raise ValueError(f"{name} is empty")
    return LevelCounts(distinct[keep], merged[keep])


def _split_input(data: Scores, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (levels, counts) arrays, not yet validated, from any accepted input form."""
    try:
        if isinstance(data, Mapping):
            levels = np.asarray(list(data.keys()), dtype=float)
            return levels, np.asarray(list(data.values()), dtype=float)
        if _is_levels_counts_pair(data):
            return np.asarray(data[0], dtype=float), np.asarray(data[1], dtype=float)
        scores = np.asarray(data, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric scores or counts per level") from error
    if scores.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    return scores, np.ones(scores.size)


def _is_levels_counts_pair(data: Scores) -> bool:
    """Tell a ``(levels, counts)`` pair of arrays from a sequence of two scores."""
    return (
        isinstance(data, tuple | list)
        and len(data) == 2
        and np.ndim(data[0]) == 1
        and np.ndim(data[1]) == 1
    )


def _aligned_counts(a: LevelCounts, b: LevelCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of both groups on the union of their levels: (levels, counts_a, counts_b)."""
    levels = np.union1d(a.levels, b.levels)
    counts_a = np.zeros(levels.size)
    counts_b = np.zeros(levels.size)
    counts_a[np.searchsorted(levels, a.levels)] = a.counts
    counts_b[np.searchsorted(levels, b.levels)] = b.counts
    return levels, counts_a, counts_b


def _moments(data: LevelCounts) -> tuple[int, float, float | None]:
    """Return (n, mean, sample variance or None when n < 2) of counted scores."""
    n = data.n
    mean = float(np.dot(data.levels, data.counts) / n)
    if n < 2:
        return n, mean, None
    variance = float(np.dot(data.counts, (data.levels - mean) ** 2) / (n - 1))
    return n, mean, variance


def _check_confidence_level(confidence_level: float) -> None:
    """Raise ValueError unless 0 < confidence_level < 1."""
    if not 0 < confidence_level < 1:
        raise ValueError("confidence_level must lie strictly between 0 and 1")


def _finite_or_none(value: float) -> float | None:
    """Return value as a float, or None when it is NaN or infinite."""
    value = float(value)
    return value if math.isfinite(value) else None


def _check_scale(scale: tuple[float, float]) -> tuple[float, float]:
    """Validate a (low, high) scale and return it as floats."""
    low, high = (float(end) for end in scale)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError("scale must be (low, high) with low < high")
    return low, high


def _scale_counts(data: Scores, name: str, low: float, high: float) -> LevelCounts:
    """Level counts of one group, checked to lie on the scale; may be empty."""
    counts = level_counts(data, name=name, allow_empty=True)
    if counts.levels.size and (counts.levels[0] < low or counts.levels[-1] > high):
        raise ValueError(f"{name} has scores outside the scale {low:g}–{high:g}")
    return counts


def _points(data: LevelCounts, low: float, high: float) -> float:
    """Mean score mapped to 0–100 by the scale's ends."""
    mean = float(np.dot(data.levels, data.counts) / data.n)
    return 100 * (mean - low) / (high - low)
