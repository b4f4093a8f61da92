"""Planning: how many more ratings bring a gap's interval to a target precision."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from dashboards.stats.levels import (
    LevelCounts,
    Scores,
    _check_confidence_level,
    _check_scale,
    _scale_counts,
)


@dataclass(frozen=True)
class ResponsesNeeded:
    """How many more responses bring the gap's interval half-width (points) under a target.

    ``additional_customers``: customers to add if only customers are added (None when no
    number suffices, because the employee side alone is too wide). ``additional_employees``:
    likewise for employees alone, never more than the round invited (None when even every
    invited employee would not do). ``balanced_customers`` and ``balanced_employees``: the
    additions when both groups grow by the same factor (None past the invited). Variances are
    per rating, in points² on 0–100; ``*_variance_assumed`` is True where no rating forced the
    largest variance. ``best_half_width``: the half-width with every invited employee (and
    the customers so far), when ``max_employees`` is known.
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
    best_half_width: float | None = None


_MAX_PLAN = 10**9


def responses_needed(
    customer: Scores,
    employee: Scores,
    *,
    scale: tuple[float, float],
    half_width: float = 5.0,
    confidence_level: float = 0.95,
    max_employees: int | None = None,
) -> ResponsesNeeded:
    """Additional customer and employee ratings needed for a target gap interval half-width.

    Parameters
    ----------
    customer, employee
        Ratings so far (scores or counts per level); either may be empty.
    scale
        ``(low, high)``: the ends of the scale.
    half_width
        Target half-width of the gap's interval, in points on 0–100.
    confidence_level
        Confidence level of that interval.
    max_employees
        How many employees the round invited: no plan asks for more.

    Returns
    -------
    ResponsesNeeded
        See the class.

    Notes
    -----
    Plans against the interval shown (``dirichlet_gap_interval``): a group's mean drawn from
    Dirichlet(counts + prior) has variance v/(n + 2), v the variance of the smoothed level
    shares (observed counts plus weight 1 at the scale's ends) — so a team that gave one level
    still has a plan. The half-width at sizes (n_c, n_e) is z_{1−α/2}·√(v_c/(n_c + 2) +
    v_e/(n_e + 2)), with the shares held as observed. A group without ratings gets the largest
    variance the scale allows, 50² points². The smallest sizes are found by doubling then
    bisection (the half-width decreases with n). Balanced: both groups are multiplied by the
    smallest common factor f ≥ 1, starting from max(n, 1) each.
    """
    _check_confidence_level(confidence_level)
    if not (math.isfinite(half_width) and half_width > 0):
        raise ValueError("half_width must be a positive number")
    if max_employees is not None and max_employees < 0:
        raise ValueError("max_employees must not be negative")
    low, high = _check_scale(scale)
    customers = _scale_counts(customer, "customer", low, high)
    employees = _scale_counts(employee, "employee", low, high)
    v_c, assumed_c = _planning_variance(customers, low, high)
    v_e, assumed_e = _planning_variance(employees, low, high)
    n_c, n_e = customers.n, employees.n
    z = float(special.ndtri(0.5 + confidence_level / 2))
    cap = _MAX_PLAN if max_employees is None else max(max_employees, n_e)

    def width(sizes: tuple[float, float]) -> float:
        return z * math.sqrt(v_c / (sizes[0] + 2) + v_e / (sizes[1] + 2))

    current = width((n_c, n_e)) if min(n_c, n_e) >= 1 else None
    add_c = add_e = None
    if n_e >= 1:
        add_c = _smallest_addition(lambda k: width((n_c + k, n_e)), half_width, 0)
    if n_c >= 1:
        add_e = _smallest_addition(lambda k: width((n_c, n_e + k)), half_width, max(0, 1 - n_e))
        if add_e is not None and n_e + add_e > cap:
            add_e = None
    base_c, base_e = max(n_c, 1), max(n_e, 1)
    grown = _smallest_addition(
        lambda k: width((math.ceil(base_c * (1 + k / base_e)), base_e + k)), half_width, 0
    )
    balanced_c = balanced_e = None
    if grown is not None and base_e + grown <= cap:
        balanced_e = base_e + grown - n_e
        balanced_c = math.ceil(base_c * (1 + grown / base_e)) - n_c
    best = width((max(n_c, 1), cap)) if max_employees is not None else None
    return ResponsesNeeded(
        half_width,
        current,
        add_c,
        add_e,
        balanced_c,
        balanced_e,
        v_c,
        v_e,
        assumed_c,
        assumed_e,
        best,
    )


def _planning_variance(data: LevelCounts, low: float, high: float) -> tuple[float, bool]:
    """Variance (points²) of the level shares smoothed by the prior; 50² without ratings."""
    if data.n == 0:
        return 2500.0, True
    points = 100 * (np.concatenate([data.levels, [low, high]]) - low) / (high - low)
    weights = np.concatenate([data.counts, [0.5, 0.5]]).astype(float)
    weights /= weights.sum()
    mean = float(weights @ points)
    return float(weights @ (points - mean) ** 2), False


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
