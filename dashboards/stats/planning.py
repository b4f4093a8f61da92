"""Planning: how many more ratings bring a gap's interval to a target precision."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dashboards.stats.intervals import _t_quantile
from dashboards.stats.levels import (
    LevelCounts,
    Scores,
    _check_confidence_level,
    _check_scale,
    _moments,
    _scale_counts,
)


@dataclass(frozen=True)
class ResponsesNeeded:
    """How many more responses bring the gap's Welch CI half-width (points) under a target.

    ``additional_customers``: customers to add if only customers are added (None when no
    number suffices, because the employee side alone is too wide). ``additional_employees``:
    likewise for employees alone. ``balanced_customers`` and ``balanced_employees``: the
    additions when both groups grow by the same factor. Variances are in points² on 0–100;
    ``*_variance_assumed`` is True where fewer than 2 ratings forced the fallback variance.
    """

    target_half_width: float
    current_half_width: float | None
    additional_customers: int | None
    additional_employees: int | None
    balanced_customers: int | None
    balanced_employees: int | None
    customer_variance: float
    employee_variance: float
    customer_variance_assumed: bool
    employee_variance_assumed: bool


_MAX_PLAN = 10**9


def responses_needed(
    customer: Scores,
    employee: Scores,
    *,
    scale: tuple[float, float],
    half_width: float = 5.0,
    confidence_level: float = 0.95,
) -> ResponsesNeeded:
    """Additional customer and employee ratings needed for a target gap CI half-width.

    Parameters
    ----------
    customer, employee
        Ratings so far (scores or counts per level); either may be empty.
    scale
        ``(low, high)``: the ends of the scale.
    half_width
        Target half-width of the gap's Welch interval, in points on 0–100.
    confidence_level
        Confidence level of that interval.

    Returns
    -------
    ResponsesNeeded
        See the class.

    Notes
    -----
    The half-width at sizes (n_c, n_e) is t_{df,1−α/2}·√(v_c/n_c + v_e/n_e) with the observed
    variances v (points²) and Welch–Satterthwaite df, as in ``welch_gap``. A group with fewer
    than 2 ratings gets the largest variance possible on the scale, (range/2)² — i.e. 2500
    points², a conservative planning value. Every plan leaves each group at least 2 ratings.
    The smallest sizes are found by doubling then bisection (the half-width decreases with n).
    Balanced: both groups are multiplied by the smallest common factor f ≥ 1, starting from
    max(n, 2) each.
    """
    _check_confidence_level(confidence_level)
    if not (math.isfinite(half_width) and half_width > 0):
        raise ValueError("half_width must be a positive number")
    low, high = _check_scale(scale)
    customers = _scale_counts(customer, "customer", low, high)
    employees = _scale_counts(employee, "employee", low, high)
    v_c, assumed_c = _planning_variance(customers, low, high)
    v_e, assumed_e = _planning_variance(employees, low, high)
    n_c, n_e = customers.n, employees.n

    def width(sizes: tuple[float, float]) -> float:
        return _welch_half_width(v_c, sizes[0], v_e, sizes[1], confidence_level)

    current = add_c = add_e = None
    if min(n_c, n_e) >= 2:
        current = width((n_c, n_e))
    if n_e >= 2:
        add_c = _smallest_addition(lambda k: width((n_c + k, n_e)), half_width, max(0, 2 - n_c))
    if n_c >= 2:
        add_e = _smallest_addition(lambda k: width((n_c, n_e + k)), half_width, max(0, 2 - n_e))
    base_c, base_e = max(n_c, 2), max(n_e, 2)
    grown = _smallest_addition(
        lambda k: width((math.ceil(base_c * (1 + k / base_e)), base_e + k)), half_width, 0
    )
    balanced_c = balanced_e = None
    if grown is not None:
        balanced_e = base_e + grown - n_e
        balanced_c = math.ceil(base_c * (1 + grown / base_e)) - n_c
    return ResponsesNeeded(
        half_width, current, add_c, add_e, balanced_c, balanced_e, v_c, v_e, assumed_c, assumed_e
    )


def _planning_variance(data: LevelCounts, low: float, high: float) -> tuple[float, bool]:
    """Sample variance in points², or the scale's maximal variance 50² when n < 2."""
    if data.n < 2:
        return 2500.0, True
    _, _, variance = _moments(data)
    return variance * (100 / (high - low)) ** 2, False


def _welch_half_width(v_c: float, n_c: float, v_e: float, n_e: float, level: float) -> float:
    """Welch half-width t_{df,1−α/2}·SE for given variances and sizes (each n ≥ 2)."""
    a, b = v_c / n_c, v_e / n_e
    if a + b == 0:
        return 0.0
    df = (a + b) ** 2 / (a**2 / (n_c - 1) + b**2 / (n_e - 1))
    return _t_quantile(0.5 + level / 2, df) * math.sqrt(a + b)


def _smallest_addition(width: Any, target: float, start: int) -> int | None:
    """Smallest k ≥ start with width(k) ≤ target, or None if none up to 10⁹ suffices."""
    if width(start) <= target:
        return start
    if width(_MAX_PLAN) > target:
        return None
    low, high = start, max(start + 1, 1)
    while width(high) > target:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if width(middle) <= target else (middle, high)
    return high
