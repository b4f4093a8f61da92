"""What the dashboard pages and the report show: the headline, formatted numbers and figures.

The gap service decides which numbers may be shown; this module only words and draws them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from functools import partial
from typing import Any

import numpy as np

from dashboards import charts, focus
from dashboards.audience import EMPLOYEES, TeamWords
from dashboards.cell_details import mean_interval
from dashboards.filters import Filters, Period
from dashboards.gaps import DepartmentView, Overview
from dashboards.rows import CellDetails, GapFigures, Trend

DASH = "—"


class Formats:
    """Number formats for templates (every one prints "—" for a missing value)."""

    @staticmethod
    def score(value: float | None) -> str:
        """A 0–100 score, whole points."""
        return DASH if value is None else f"{value:.0f}"

    @staticmethod
    def gap(value: float | None, digits: int = 0) -> str:
        """A gap in points (or a change of it) with its sign."""
        if value is None:
            return DASH
        return f"{value:+.{digits}f}".replace("-", "−")

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
    def p_is(name: str, value: float | None) -> str:
        """A p- or q-value with its name: "p = 0.012", "p < 0.001"."""
        shown = Formats.p(value)
        return f"{name} {shown}" if shown.startswith("<") else f"{name} = {shown}"

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


def form_values(params: dict[str, str]) -> dict[str, str]:
    """The filter form's fields as submitted (kept as typed, so a mistake can be corrected)."""
    segment = params.get("segment") or "; ".join(
        f"{k.removeprefix('segment.')}={v}" for k, v in params.items() if k.startswith("segment.")
    )
    return {
        "from": params.get("from", ""),
        "to": params.get("to", ""),
        "journey": params.get("journey", ""),
        "segment": segment,
        "compare": params.get("compare", ""),
        "period": params.get("period", ""),
    }


def filter_form(filters: Filters) -> dict[str, str]:
    """The filter form's fields of a valid view."""
    return {
        "from": filters.start.isoformat(),
        "to": filters.end.isoformat(),
        "journey": filters.journey or "",
        "segment": "; ".join(f"{n}={v}" for n, v in filters.segments),
        "compare": filters.compare_text,
        "period": filters.period,
    }


def headline(row: GapFigures | None, subject: str = "Employees rate their steps") -> str:
    """The headline: "Employees rate their steps 84/100; customers rate them 63/100: …"."""
    if row is None:
        return (
            "Not enough employee ratings yet to compare: no department has reached the "
            "anonymity threshold in its latest round."
        )
    sentence = (
        f"{subject} {Formats.score(row.employee_score)}/100; "
        f"customers rate them {Formats.score(row.customer_score)}/100: "
        f"{_article(Formats.gap(row.gap).lstrip('+'))}-point gap"
    )
    if row.gap_low is not None and row.gap_high is not None:
        low = Formats.score(row.gap_low).replace("-", "−")
        high = Formats.score(row.gap_high).replace("-", "−")
        sentence += f" (95% CI {low}–{high})"
    return sentence + "."


def _article(number: str) -> str:
    """'a 21' but 'an 8', 'an 11', 'an 18', 'an 80'."""
    spoken_with_vowel = number.startswith("8") or number in ("11", "18")
    return f"{'an' if spoken_with_vowel else 'a'} {number}"


MAGNITUDE_WORDS = {
    "negligible": "hardly any difference",
    "small": "a small difference",
    "medium": "a medium difference",
    "large": "a large difference",
}


def verdict(row: GapFigures) -> str:
    """A short reading of one gap in words: clear or not yet, and how large the difference."""
    if row.gap is None:
        return ""
    signal = focus.verdict_of(row)
    size = MAGNITUDE_WORDS.get(row.magnitude or "", "")
    return f"{signal}; {size}" if size else signal


def technical(row: GapFigures) -> str:
    """The figures behind a reading, for its tooltip (the export carries them too)."""
    if row.gap is None:
        return ""
    parts = [
        Formats.p_is("p", row.pvalue),
        Formats.p_is("q (Benjamini–Hochberg)", row.qvalue),
        f"Cliff's delta = {Formats.number(row.cliffs_delta)}",
    ]
    if row.method:
        parts.append(f"test: {row.method}")
    return "; ".join(parts)


def natural_end(period: Period, unit: str) -> date:
    """The last day of a period's whole week or month (a view may cut it short)."""
    if unit == "month":
        following = (period.start.replace(day=28) + timedelta(days=4)).replace(day=1)
        return following - timedelta(days=1)
    return period.start - timedelta(days=period.start.weekday()) + timedelta(days=6)


def unfinished_period(periods: Sequence[Period], unit: str) -> int | None:
    """The index of the last period when the view ends before that week or month does."""
    if not periods:
        return None
    last = periods[-1]
    return last.index if last.end < natural_end(last, unit) else None


def period_label(period: Period, unit: str, *, unfinished: bool = False) -> str:
    """A period in words: "week of 14 Sep" or "Sep 2026", "so far" while it runs."""
    if unit == "month":
        text = period.start.strftime("%b %Y")
    else:
        monday = period.start - timedelta(days=period.start.weekday())
        text = f"week of {monday.day} {monday.strftime('%b')}"
    return f"{text} (so far)" if unfinished else text


def period_labels(periods: Sequence[Period], unit: str) -> list[str]:
    """The labels of a view's periods, the running one marked."""
    running = unfinished_period(periods, unit)
    return [period_label(p, unit, unfinished=p.index == running) for p in periods]


def trend_text(slope: Trend | None, gap: float | None, unit: str) -> str:
    """A trend in words: "closing by about 2 points a week", "no clear trend", or why none."""
    if slope is None:
        return DASH
    words = focus.trend_words(slope, gap)
    if words is None or slope.slope is None:
        return slope.reason or DASH
    if words == "steady":
        return "no clear trend"
    return f"{words} by about {abs(slope.slope):.1f} points a {unit}"


def trend_technical(slope: Trend | None, unit: str) -> str:
    """The trend's figures for its tooltip."""
    if slope is None or slope.slope is None:
        return ""
    return (
        f"Theil–Sen slope {Formats.gap(slope.slope, digits=2)} points per {unit} "
        f"({Formats.interval(slope.slope_low, slope.slope_high)}); "
        f"Mann–Kendall tau {Formats.number(slope.kendall_tau)}, "
        f"{Formats.p_is('p', slope.pvalue)}, "
        f"{Formats.p_is('q', slope.qvalue)} (over the view's trends)"
    )


def needed_text(cell: CellDetails) -> str:
    """The planning hint of a gap that is not yet clear, as one sentence."""
    needed = cell.needed
    if needed is None:
        return ""
    options = []
    if needed.additional_customers is not None:
        options.append(f"about {Formats.count(needed.additional_customers)} more customer answers")
    if needed.additional_employees is not None:
        options.append(f"{Formats.count(needed.additional_employees)} more team ratings")
    if needed.balanced_customers is not None:
        options.append(
            f"{Formats.count(needed.balanced_customers)} more customer answers and "
            f"{Formats.count(needed.balanced_employees)} more team ratings together"
        )
    half = needed.current_half_width
    known = f"The gap is known to ±{half:.0f} points" if half is not None else "The gap is wide"
    if not options:
        return f"{known}; more answers of one side alone would not narrow it to ±5."
    return f"{known}; {' or '.join(options)} would narrow it to ±5."


def round_breaks(periods: Sequence[Period], round_ends: Sequence[date]) -> list[int]:
    """The periods whose employee side is a newer round than the period before's."""
    found = set()
    for ends in round_ends:
        index = next((p.index for p in periods if p.end >= ends), None)
        if index:
            found.add(index)
    return sorted(found)


def _employee_interval(cell: CellDetails) -> tuple[float, float] | None:
    """The team's 95% interval: the statistics' own when given, else from its shown answers."""
    if cell.employee_ci:
        return cell.employee_ci
    shares, n = cell.employee_shares, cell.n_employees
    if not shares or not n:
        return None
    levels = np.arange(cell.low, cell.high + 1)
    counts = np.array([round(share * n) for share in shares])
    found = mean_interval(levels, counts, cell.low, cell.high)
    return None if found is None else (found[1], found[2])


def _common(view: Overview | DepartmentView, team: TeamWords) -> dict[str, Any]:
    return {
        "view": view,
        "team": team,
        "filters": view.filters,
        "form": filter_form(view.filters),
        "query": view.filters.query(),
        "department_links": view.department_links,
        "fmt": Formats,
        "verdict": verdict,
        "technical": technical,
        # partials, not lambdas: a context reads the same (repr included) for the same view
        "trend_text": partial(trend_text, unit=view.filters.period),
        "trend_technical": partial(trend_technical, unit=view.filters.period),
        "unit": view.filters.period,
        "trend_name": partial(charts.cell_label, with_question=True),
        "kind_words": charts.KIND_WORDS,
        "period_labels": period_labels(view.periods, view.filters.period),
    }


def overview_context(view: Overview, team: TeamWords = EMPLOYEES) -> dict[str, Any]:
    """Template context of the org overview, its raters named for `team`'s reader."""
    labels = period_labels(view.periods, view.filters.period)
    bars = charts.gap_bars(view.departments, team=team)
    figures = {"departments": charts.to_json(bars)}
    for row in view.departments:
        # A hidden department draws no trend: its points depend on its ratings.
        if row.trend and row.gap is not None:
            figures[f"spark-{row.department}"] = charts.to_json(charts.sparkline(row.trend, labels))
    return _common(view, team) | {"headline": headline(view.headline), "figures": figures}


def department_context(
    view: DepartmentView, *, round_ends: Sequence[date] = (), team: TeamWords = EMPLOYEES
) -> dict[str, Any]:
    """Template context of a department page (`round_ends`: its rounds' last days), its
    raters named for `team`'s reader."""
    unit = view.filters.period
    labels = period_labels(view.periods, unit)
    cells = [replace(c, employee_ci=_employee_interval(c)) for c in view.cells]
    series = []
    for cell in cells:
        if cell.gap is None:
            continue  # hidden now: no trend that depends on its ratings either
        key = (cell.step, cell.question)
        points = [p for p in view.points if (p.step, p.question) == key]
        if points:
            name = charts.cell_label(cell, with_question=True)
            series.append((name, points, cell.slope))
    figures = {"journey": charts.to_json(charts.journey_map(cells, team=team))}
    if any(c.gap is not None for c in cells):
        figures["gaps"] = charts.to_json(charts.gap_bars(cells, team=team))
    if any(c.customer_shares or c.employee_shares for c in cells):
        figures["distribution"] = charts.to_json(charts.distribution_bars(cells, team=team))
    if series:
        figures["trend"] = charts.to_json(
            charts.trend_lines(
                series,
                labels,
                unit=unit,
                breaks=round_breaks(view.periods, round_ends),
                unfinished=unfinished_period(view.periods, unit),
            )
        )
    shown = {(s[1][0].step, s[1][0].question) for s in series}
    return _common(view, team) | {
        "cells": cells,
        "trend_cells": [c for c in cells if (c.step, c.question) in shown],
        "summary_sentence": _summary(view, team),
        "figures": figures,
        "nps_cells": [c for c in cells if c.nps],
        # Planning hints only where more answers can change the answer: not for clear gaps.
        "needed_cells": [
            c
            for c in cells
            if c.needed and c.gap is not None and focus.verdict_of(c) != focus.CLEAR
        ],
        "needed_text": needed_text,
        "unsolicited_cells": [c for c in cells if c.unsolicited_n],
    }


def _summary(view: DepartmentView, team: TeamWords) -> str:
    row = view.summary
    if row is None or row.gap is None:
        if row is not None and row.suppressed_reason:
            return f"{view.department.name}: {row.suppressed_reason}"
        return f"{view.department.name}: no gap to show for this view."
    text = headline(row, subject=f"{team.title} {team.rate} these steps")
    return f"{view.department.name}. {text}"
