"""The typed rows the dashboards pass around: gaps, trends, changes, comments, follow-ups.

The statistics make polars frames with fixed columns (`dashboards.stats`, `dashboards.gap_tables`);
a view reads them into these frozen rows, and pages, charts, Where to act, the report and the
API read the rows. Each row class names its frame's columns as fields, so `read_rows` reads a
frame into rows with no field copied by hand, and a column missing from either side fails at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, TypeVar

import msgspec
import polars as pl

from dashboards.stats import NPSResult, ResponsesNeeded

Row = TypeVar("Row")


@dataclass(frozen=True)
class RoundLabel:
    """A rating round as the dashboards name it: its name and the day it ended."""

    id: int
    name: str
    ends: date


@dataclass(frozen=True, slots=True, kw_only=True)
class GapFigures:
    """One gap's figures: the `stats.GAP_COLUMNS` of a table row and its anonymity code.

    Scores and gaps are 0–100 points; `suppression` is the anonymity code of
    `dashboards.gap_tables` (None when the figures are shown as computed).
    """

    n_customers: int
    n_employees: int | None
    customer_score: float | None
    employee_score: float | None
    gap: float | None
    gap_low: float | None
    gap_high: float | None
    standard_error: float | None
    relative_effect: float | None
    relative_effect_low: float | None
    relative_effect_high: float | None
    pvalue: float | None
    qvalue: float | None
    method: str | None
    cliffs_delta: float | None
    magnitude: str | None
    suppressed: bool
    suppressed_reason: str | None
    verdict: str | None
    customer_standard_error: float | None
    suppression: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CellGap(GapFigures):
    """The gap of one cell: a department's step and one of its rating questions."""

    department: str
    step: str
    question: str

    @property
    def cell(self) -> tuple[str, str, str]:
        """The cell's keys: (department, step, question)."""
        return (self.department, self.step, self.question)


@dataclass(frozen=True, slots=True, kw_only=True)
class DepartmentGap(GapFigures):
    """A department's pooled gap over its shown cells."""

    department: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Trend:
    """The Theil–Sen trend of a gap (`stats.TREND_COLUMNS`) and its q-value over the view's
    trends; `slope` is None, with a `reason`, when there is no trend to show."""

    n_periods: int
    slope: float | None
    slope_low: float | None
    slope_high: float | None
    intercept: float | None
    kendall_tau: float | None
    pvalue: float | None
    reason: str | None
    n_blocks: int
    qvalue: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrendPoint:
    """The gap of one period: customers of the period against the round that speaks for it.

    `step` and `question` are None on a department's trend (its cells pooled).
    """

    department: str
    step: str | None = None
    question: str | None = None
    period: int
    period_start: date
    gap: float
    standard_error: float | None
    n_customers: int
    round_id: int
    partial: bool


@dataclass(frozen=True, slots=True)
class Change:
    """A gap against the comparison period: the gap before, the change, its p-value."""

    before: float
    difference: float
    pvalue: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DepartmentRow(DepartmentGap):
    """A department on the overview: its pooled gap, round, trend and change."""

    name: str
    raters: int | None
    round: RoundLabel | None
    round_before_view: bool
    trend: list[TrendPoint]
    slope: Trend | None
    change: Change | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CellRow(CellGap):
    """A cell's gap with its trend and its change against the comparison period."""

    slope: Trend | None = None
    change: Change | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CellDetails(CellRow):
    """A cell as its department's page shows it: the gap, the step and question, the answers.

    Shares are per level of the scale, low to high; every employee field is None where the
    cell's employee ratings are hidden.
    """

    journey: str
    journey_name: str
    step_name: str
    moment_of_truth: bool
    kind: str
    wording: str
    low: int
    high: int
    low_label: str
    high_label: str
    customer_ci: tuple[float, float] | None
    customer_shares: list[float] | None
    employee_shares: list[float] | None
    unsolicited_n: int
    unsolicited_score: float | None
    nps: NPSResult | None
    employee_nps: NPSResult | None
    needed: ResponsesNeeded | None
    employee_ci: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class CustomerComment:
    """A customer's text answer on a step."""

    step: str
    step_name: str
    question: str
    submitted_at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class StepComments:
    """Employees' comments on one step of a round, or why they are not shown."""

    step: str
    step_name: str
    comments: list[str]
    reason: str | None


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    """An open follow-up as a department's page lists it."""

    id: int
    status: str
    score: int | None
    created_at: datetime
    step: str
    step_name: str
    question: str


class GapRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A gap as the API gives it: the keys, the figures, intervals as [low, high].

    A department's record has no journey, step, question or kind.
    """

    department: str
    journey: str | None = None
    step: str | None = None
    question: str | None = None
    kind: str | None = None
    n_customers: int
    n_employees: int | None
    customer_score: float | None
    employee_score: float | None
    gap: float | None
    gap_ci: tuple[float, float] | None
    standard_error: float | None
    relative_effect: float | None
    relative_effect_ci: tuple[float, float] | None
    pvalue: float | None
    qvalue: float | None
    method: str | None
    cliffs_delta: float | None
    magnitude: str | None
    suppressed: bool
    suppressed_reason: str | None
    verdict: str | None
    customer_standard_error: float | None
    suppression: str | None


def read_rows(row_type: type[Row], frame: pl.DataFrame, /) -> list[Row]:
    """The frame's rows as `row_type` (the frame must hold every field without a default;
    columns that are not fields are left out)."""
    names = [f.name for f in fields(row_type) if f.name in frame.columns]
    return [row_type(**row) for row in frame.select(names).iter_rows(named=True)]


def values_of(row: Any) -> dict[str, Any]:
    """A row's fields by name (one level: a field holding a row stays that row)."""
    return {f.name: getattr(row, f.name) for f in fields(row)}


def extend(row: Any, row_type: type[Row], /, **more: Any) -> Row:
    """A `row_type` row (a subclass of the row's class) of the row's fields and `more`."""
    return row_type(**values_of(row), **more)


def _pair(low: float | None, high: float | None) -> tuple[float, float] | None:
    return None if low is None or high is None else (low, high)


def gap_record(row: Mapping[str, Any]) -> GapRecord:
    """The API record of a gap-table row (a frame's row, or a row's `values_of`)."""
    return GapRecord(
        **{k: v for k, v in row.items() if k in GapRecord.__struct_fields__},
        gap_ci=_pair(row["gap_low"], row["gap_high"]),
        relative_effect_ci=_pair(row["relative_effect_low"], row["relative_effect_high"]),
    )
