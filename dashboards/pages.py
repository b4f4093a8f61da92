"""What the dashboard pages and the report show: the headline, formatted numbers and figures.

The gap service decides which numbers may be shown; this module only words and draws them.
"""

from __future__ import annotations

import math
from typing import Any

from dashboards import charts
from dashboards.gaps import DepartmentView, Overview

DASH = "—"


class Formats:
    """Number formats for templates (every one prints "—" for a missing value)."""

    @staticmethod
    def score(value: float | None) -> str:
        """A 0–100 score, whole points."""
        return DASH if value is None else f"{value:.0f}"

    @staticmethod
    def gap(value: float | None) -> str:
        """A gap in points with its sign."""
        if value is None:
            return DASH
        return f"{value:+.0f}".replace("-", "−")

    @staticmethod
    def interval(low: float | None, high: float | None) -> str:
        """An interval as low–high, whole points."""
        if low is None or high is None:
            return DASH
        return f"{low:.0f} to {high:.0f}".replace("-", "−")

    @staticmethod
    def p(value: float | None) -> str:
        """A p- or q-value."""
        if value is None:
            return DASH
        return "< 0.001" if value < 0.001 else f"{value:.3f}"

    @staticmethod
    def number(value: float | None, digits: int = 2) -> str:
        """A plain number."""
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return DASH
        return f"{value:.{digits}f}".replace("-", "−")

    @staticmethod
    def count(value: int | None) -> str:
        """A count with thousands separators."""
        return DASH if value is None else f"{value:,}"


def headline(row: dict[str, Any] | None) -> str:
    """The headline: "Employees rate their steps 84/100; customers rate them 63/100: …"."""
    if row is None:
        return (
            "Not enough employee ratings yet to compare: no department has reached the "
            "anonymity threshold in its latest round."
        )
    sentence = (
        f"Employees rate their steps {row['employee_score']:.0f}/100; "
        f"customers rate them {row['customer_score']:.0f}/100: "
        f"{_article(Formats.gap(row['gap']).lstrip('+'))}-point gap"
    )
    if row.get("gap_low") is not None and row.get("gap_high") is not None:
        low = Formats.score(row["gap_low"]).replace("-", "−")
        high = Formats.score(row["gap_high"]).replace("-", "−")
        sentence += f" (95% CI {low}–{high})"
    return sentence + "."


def _article(number: str) -> str:
    """'a 21' but 'an 8', 'an 11', 'an 18', 'an 80'."""
    spoken_with_vowel = number.startswith("8") or number in ("11", "18")
    return f"{'an' if spoken_with_vowel else 'a'} {number}"


def verdict(row: dict[str, Any]) -> str:
    """A short reading of one gap: significant after BH, and its effect size label."""
    if row.get("gap") is None:
        return ""
    q = row.get("qvalue")
    signal = "clear" if q is not None and q < 0.05 else "not yet clear"
    return f"{signal}; {row.get('magnitude') or 'n/a'} effect"


def overview_context(view: Overview) -> dict[str, Any]:
    """Template context of the org overview."""
    labels = [p.label for p in view.periods]
    figures = {
        "departments": charts.to_json(
            charts.gap_bars(view.departments, label="department", title="Gap per department")
        )
    }
    for row in view.departments:
        if row["trend"]:
            figures[f"spark-{row['department']}"] = charts.to_json(
                charts.sparkline(row["trend"], labels)
            )
    return {
        "view": view,
        "filters": view.filters,
        "query": view.filters.query(),
        "department_links": view.department_links,
        "headline": headline(view.headline),
        "figures": figures,
        "fmt": Formats,
        "verdict": verdict,
        "unit": view.filters.period,
    }


def department_context(view: DepartmentView) -> dict[str, Any]:
    """Template context of a department page."""
    labels = [p.label for p in view.periods]
    cells = view.cells
    series = []
    for cell in cells:
        key = (cell["step"], cell["question"])
        points = [p for p in view.points if (p["step"], p["question"]) == key]
        if points:
            name = charts.cell_label(cell, with_question=True)
            series.append((name, points, cell.get("slope")))
    figures = {"journey": charts.to_json(charts.journey_map(cells))}
    if any(c["gap"] is not None for c in cells):
        figures["gaps"] = charts.to_json(charts.gap_bars(cells))
    if any(c.get("customer_shares") or c.get("employee_shares") for c in cells):
        figures["distribution"] = charts.to_json(charts.distribution_bars(cells))
    if series:
        figures["trend"] = charts.to_json(
            charts.trend_lines(series, labels, unit=view.filters.period)
        )
    return {
        "view": view,
        "filters": view.filters,
        "query": view.filters.query(),
        "department_links": view.department_links,
        "summary_sentence": _summary(view),
        "figures": figures,
        "fmt": Formats,
        "verdict": verdict,
        "unit": view.filters.period,
        "nps_cells": [c for c in cells if c.get("nps")],
        "needed_cells": [c for c in cells if c.get("needed")],
        "unsolicited_cells": [c for c in cells if c.get("unsolicited_n")],
    }


def _summary(view: DepartmentView) -> str:
    row = view.summary
    if row is None or row.get("gap") is None:
        if row is not None and row.get("suppressed_reason"):
            return f"{view.department.name}: {row['suppressed_reason']}"
        return f"{view.department.name}: no gap to show for this view."
    text = headline(row).replace("Employees rate their steps", "Employees rate these steps")
    return f"{view.department.name}. {text}"
