"""What a department's page shows beside a cell's gap: the answers' shares, means and
intervals, NPS, unsolicited feedback, and how many more answers would settle the gap.

Only a shown cell's employee ratings are read: a hidden cell's employee fields stay None.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from scipy import special

from dashboards import stats
from dashboards.employee_side import EmployeeSide
from dashboards.queries import Catalog
from dashboards.rows import CellDetails, CellGap, Change, Trend, extend

TARGET_HALF_WIDTH = 5.0  # points: a gap known to ±5 is precise enough to act on


def mean_interval(
    levels: np.ndarray, counts: np.ndarray, low: float, high: float, level: float = 0.95
) -> tuple[float, float, float] | None:
    """Mean in points and its t interval (clipped to 0–100); None without ratings."""
    n = int(counts.sum())
    if n == 0:
        return None
    points = 100 * (levels.astype(float) - low) / (high - low)
    mean = float(np.dot(points, counts) / n)
    if n < 2:
        return mean, mean, mean
    variance = float(np.dot(counts, (points - mean) ** 2) / (n - 1))
    half = float(special.stdtrit(n - 1, 0.5 + level / 2)) * math.sqrt(variance / n)
    return mean, max(0.0, mean - half), min(100.0, mean + half)


def _counts(frame: pl.DataFrame, source: str) -> tuple[np.ndarray, np.ndarray]:
    part = frame.filter((pl.col("source") == source) & (pl.col("count") > 0))
    part = part.group_by("level").agg(pl.col("count").sum()).sort("level")
    return part["level"].to_numpy(), part["count"].to_numpy()


def _shares(levels: np.ndarray, counts: np.ndarray, low: int, high: int) -> list[float] | None:
    total = counts.sum()
    if total == 0:
        return None
    shares = dict.fromkeys(range(low, high + 1), 0.0)
    for level, count in zip(levels.tolist(), counts.tolist(), strict=True):
        shares[int(level)] = count / total
    return list(shares.values())


def _nps(levels: np.ndarray, counts: np.ndarray) -> stats.NPSResult | None:
    return stats.nps((levels, counts)) if counts.sum() else None


def _needed(
    customers: tuple[np.ndarray, np.ndarray],
    employees: tuple[np.ndarray, np.ndarray],
    low: int,
    high: int,
    invited: int | None = None,
) -> stats.ResponsesNeeded | None:
    """A planning hint against the interval shown, never asking for more than were invited."""
    plan = stats.responses_needed(
        customers,
        employees,
        scale=(low, high),
        half_width=TARGET_HALF_WIDTH,
        max_employees=invited,
    )
    if plan.current_half_width is not None and plan.current_half_width <= TARGET_HALF_WIDTH:
        return None
    return plan


def cell_details(
    catalog: Catalog,
    row: CellGap,
    counts: pl.DataFrame,
    view_counts: pl.DataFrame,
    side: EmployeeSide,
    *,
    invited: int | None = None,
    slope: Trend | None = None,
    change: Change | None = None,
) -> CellDetails:
    """A cell's gap with what the page shows beside it (only shown employee data is touched)."""
    department, step_key, question_key = row.cell
    step = catalog.steps[step_key]
    question = catalog.questions[(step_key, question_key)]
    mine = view_counts.filter((pl.col("step") == step_key) & (pl.col("question") == question_key))
    customers = _counts(mine, "customer")
    unsolicited = _counts(mine, "unsolicited")
    employees: tuple[np.ndarray, np.ndarray] = (np.array([]), np.array([]))
    shown = side.cell_shown(row.cell)
    if shown:
        chosen = counts.filter(
            (pl.col("source") == "employee")
            & (pl.col("round_id") == side.rounds[department])
            & (pl.col("step") == step_key)
            & (pl.col("question") == question_key)
        )
        employees = _counts(chosen, "employee")
    low, high = question.low, question.high
    customer_mean = mean_interval(*customers, low, high)
    unsolicited_mean = mean_interval(*unsolicited, low, high)
    return extend(
        row,
        CellDetails,
        slope=slope,
        change=change,
        journey=step.journey,
        journey_name=step.journey_name,
        step_name=step.name,
        moment_of_truth=step.moment_of_truth,
        kind=question.kind,
        wording=question.wording,
        low=low,
        high=high,
        low_label=question.low_label,
        high_label=question.high_label,
        customer_ci=None if customer_mean is None else customer_mean[1:],
        customer_shares=_shares(*customers, low, high),
        employee_shares=_shares(*employees, low, high) if shown else None,
        unsolicited_n=int(unsolicited[1].sum()),
        unsolicited_score=None if unsolicited_mean is None else unsolicited_mean[0],
        nps=_nps(*customers) if question.kind == "nps" else None,
        employee_nps=_nps(*employees) if question.kind == "nps" and shown else None,
        needed=_needed(customers, employees, low, high, invited) if shown else None,
    )
