"""Plotly figures of the dashboards, as plain figure dicts (`{"data": [...], "layout": {...}}`).

Plain dicts are what `Plotly.newPlot` takes and what `plotly.graph_objects.Figure(...)` accepts
(the report and the image export wrap them so), and building them costs next to nothing.
Every figure only shows numbers the gap service already cleared for anonymity, and names the
raters as its reader does (`team`: "your team" or "employees", see `dashboards.audience`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from dashboards.audience import EMPLOYEES, TeamWords
from dashboards.rows import CellDetails, DepartmentRow, Trend, TrendPoint

CUSTOMER = "#0b5cad"
CUSTOMER_BAND = "rgba(11, 92, 173, 0.15)"
EMPLOYEE = "#b35900"
GAP_SHADE = "rgba(179, 89, 0, 0.18)"
POSITIVE = "#b35900"  # employees think better of it than customers do
NEGATIVE = "#0b5cad"
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}

Figure = dict[str, Any]


def _layout(title: str | None = None, **extra: Any) -> dict[str, Any]:
    """A layout that stays readable from 390 px up: margins grow to fit labels and legend.

    Pages print each chart's title as the heading above it (a heading wraps on a phone, a
    plotly title does not), so `title` is only set for images and the report.
    """
    layout: dict[str, Any] = {
        "font": FONT,
        "margin": {"l": 8, "r": 8, "t": 8, "b": 8, "autoexpand": True},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "closest",
        "autosize": True,
        # Above the plot, so it never lands on the axis labels however they rotate.
        "legend": {
            "orientation": "h",
            "traceorder": "normal",
            "x": 0,
            "xanchor": "left",
            "y": 1.02,
            "yanchor": "bottom",
        },
    }
    if title:
        layout["title"] = {"text": title, "automargin": True}
    layout.update(extra)
    return layout


def wrap(text: str, width: int = 18) -> str:
    """A label broken into lines of about `width` characters (plotly breaks on <br>)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def _whiskers(values: Sequence[float | None], bounds: Sequence[Any]) -> dict[str, Any] | None:
    """Asymmetric error bars from (low, high) pairs; a missing or zero-width interval draws none."""
    plus: list[float | None] = []
    minus: list[float | None] = []
    for value, bound in zip(values, bounds, strict=True):
        if value is None or not bound or bound[0] is None or bound[1] is None:
            plus.append(None)
            minus.append(None)
            continue
        low, high = bound
        if high - low <= 1e-9:
            plus.append(None)
            minus.append(None)
            continue
        plus.append(max(high - value, 0.0))
        minus.append(max(value - low, 0.0))
    if all(p is None for p in plus):
        return None
    return {
        "type": "data",
        "symmetric": False,
        "array": plus,
        "arrayminus": minus,
        "thickness": 1.5,
        "width": 4,
    }


KIND_WORDS = {
    "csat": "satisfaction",
    "ces": "effort",
    "nps": "would recommend",
    "likert5": "agreement",
    "likert7": "agreement",
}


def cell_label(cell: CellDetails, *, with_question: bool) -> str:
    """A step's name for an axis, what its question measures added when a step has several."""
    star = "★ " if cell.moment_of_truth else ""
    name = f"{star}{cell.step_name}"
    if not with_question:
        return name
    return f"{name} · {KIND_WORDS.get(cell.kind, cell.question)}"


def _labels(cells: Sequence[CellDetails]) -> list[str]:
    steps = [c.step for c in cells]
    return [wrap(cell_label(c, with_question=steps.count(c.step) > 1)) for c in cells]


def journey_map(
    cells: Sequence[CellDetails], *, title: str | None = None, team: TeamWords = EMPLOYEES
) -> Figure:
    """Steps in journey order: customers and employees, each with its 95% interval, gap shaded.

    Employee traces appear only where employee numbers are shown, so a hidden department's
    chart carries nothing (not even a legend entry) that depends on its ratings.
    """
    labels = _labels(cells)
    customer = [c.customer_score for c in cells]
    employee = [c.employee_score for c in cells]
    customer_bars = _whiskers(customer, [c.customer_ci for c in cells])
    employee_bars = _whiskers(employee, [c.employee_ci for c in cells])
    moments = [
        (label, c.customer_score)
        for label, c in zip(labels, cells, strict=True)
        if c.moment_of_truth and c.customer_score is not None
    ]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": labels,
            "y": customer,
            "mode": "lines+markers",
            "line": {"color": CUSTOMER, "width": 3},
            "marker": {"size": 9},
            "name": "Customers",
            "hovertemplate": "%{x}<br>Customers: %{y:.0f}/100<extra></extra>",
            **({"error_y": customer_bars | {"color": CUSTOMER}} if customer_bars else {}),
        },
    ]
    if any(e is not None for e in employee):
        data.append(
            {
                "type": "scatter",
                "x": labels,
                "y": employee,
                "mode": "lines+markers",
                "line": {"color": EMPLOYEE, "width": 3, "dash": "dash"},
                "marker": {"size": 9, "symbol": "diamond"},
                "fill": "tonexty",
                "fillcolor": GAP_SHADE,
                "name": f"{team.title} (gap shaded)",
                "hovertemplate": f"%{{x}}<br>{team.title}: %{{y:.0f}}/100<extra></extra>",
                **({"error_y": employee_bars | {"color": EMPLOYEE}} if employee_bars else {}),
            }
        )
    if moments:
        data.append(
            {
                "type": "scatter",
                "x": [m[0] for m in moments],
                "y": [m[1] for m in moments],
                "mode": "markers",
                "marker": {"symbol": "star", "size": 16, "color": "#1a1a1a"},
                "name": "Moment of truth",
                "hovertemplate": "%{x}: a moment of truth<extra></extra>",
            }
        )
    return {
        "data": data,
        "layout": _layout(
            title,
            yaxis={
                "title": {"text": "Score (0–100)"},
                "range": [0, 100],
                "gridcolor": "#e5e5e5",
                "automargin": True,
            },
            xaxis={
                "type": "category",
                "categoryorder": "array",
                "categoryarray": labels,
                # Half a category of room at each end, so the end labels stay over the plot.
                "range": [-0.5, len(labels) - 0.5],
                "automargin": True,
            },
            height=440,
        ),
    }


def gap_bars(
    rows: Sequence[CellDetails] | Sequence[DepartmentRow],
    *,
    title: str | None = None,
    team: TeamWords = EMPLOYEES,
) -> Figure:
    """Gaps with their 95% intervals, largest first; rows without a gap are left out.

    Cells are named by their step, departments by their name.
    """
    shown = sorted((r for r in rows if r.gap is not None), key=lambda r: r.gap, reverse=True)
    departments = [r.name for r in shown if isinstance(r, DepartmentRow)]
    names = [wrap(n) for n in departments] if departments else _labels(shown)
    gaps = [r.gap for r in shown]
    bars = _whiskers(gaps, [(r.gap_low, r.gap_high) for r in shown])
    trace: dict[str, Any] = {
        "type": "bar",
        "orientation": "h",
        "y": names,
        "x": gaps,
        "marker": {"color": [POSITIVE if g >= 0 else NEGATIVE for g in gaps]},
        "name": f"Gap ({team.name} − customers)",
        "hovertemplate": "%{y}: %{x:+.0f} points<extra></extra>",
    }
    if bars:
        trace["error_x"] = bars | {"color": "#1a1a1a"}
    return {
        "data": [trace],
        "layout": _layout(
            title,
            xaxis={
                "title": {"text": "Gap in points (95% interval)"},
                "zeroline": True,
                "zerolinecolor": "#1a1a1a",
                "gridcolor": "#e5e5e5",
                "automargin": True,
            },
            # Largest first: plotly draws the first category at the bottom, so reverse the axis.
            yaxis={"autorange": "reversed", "automargin": True},
            height=max(240, 110 + 52 * len(shown)),
            showlegend=False,
        ),
    }


# One colour per meaning on every scale: unhappy answers red, neutral grey, happy blue.
MEANINGS = (
    ("negative", "Negative", "#c0392b"),
    ("neutral", "Neutral", "#a6a6a6"),
    ("positive", "Positive", "#2166ac"),
)
# The levels of each scale's neutral middle; below it is negative, above it positive.
NEUTRAL_LEVELS: dict[str, tuple[int, ...]] = {
    "nps": (7, 8),  # detractors 0–6, passives 7–8, promoters 9–10
    "csat": (3,),  # 1–2 / 3 / 4–5
    "likert5": (3,),
    "ces": (4,),  # 1–3 / 4 / 5–7
    "likert7": (4,),
}
BAND_NAMES = {"nps": ("detractors", "passives", "promoters")}


def meaning_bands(kind: str, low: int, high: int) -> dict[str, tuple[int, int] | None]:
    """The levels (first, last) each meaning covers on a scale; the neutral middle may be none."""
    middle = NEUTRAL_LEVELS.get(kind)
    if middle is None:
        centre = (low + high) / 2
        middle = (int(centre),) if centre == int(centre) else ()
        below = math.floor(centre) if not middle else middle[0] - 1
    else:
        below = middle[0] - 1
    above = (middle[-1] + 1) if middle else below + 1
    return {
        "negative": (low, below),
        "neutral": (middle[0], middle[-1]) if middle else None,
        "positive": (above, high),
    }


def _band_text(kind: str, bands: dict[str, tuple[int, int] | None], meaning: str) -> str:
    span = bands[meaning]
    if span is None:
        return ""
    levels = f"{span[0]}" if span[0] == span[1] else f"{span[0]}–{span[1]}"
    names = BAND_NAMES.get(kind)
    index = ("negative", "neutral", "positive").index(meaning)
    return f"{kind.upper()} {levels}" + (f" ({names[index]})" if names else "")


def distribution_bars(cells: Sequence[CellDetails], *, team: TeamWords = EMPLOYEES) -> Figure:
    """Diverging bars of each step's answers, customers beside employees, centred on neutral.

    Every scale is split at its own neutral point (NPS 0–6 / 7–8 / 9–10, CSAT 1–2 / 3 / 4–5,
    CES and 7-point Likert 1–3 / 4 / 5–7): negative answers go left of zero, positive right,
    neutral ones straddle zero, and each meaning has one colour whatever the scale.
    """
    labels = _labels(cells)
    rows: list[tuple[str, CellDetails, list[float]]] = []
    for label, cell in zip(labels, cells, strict=True):
        if cell.customer_shares:
            rows.append((f"{label}<br><i>customers</i>", cell, cell.customer_shares))
        if cell.employee_shares:
            rows.append((f"{label}<br><i>{team.name}</i>", cell, cell.employee_shares))
    names = [n for n, _, _ in rows]
    data: list[dict[str, Any]] = []
    for meaning, title, colour in MEANINGS:
        shares, hover = [], []
        for _, cell, cell_shares in rows:
            bands = meaning_bands(cell.kind, cell.low, cell.high)
            span = bands[meaning]
            if span is None:
                shares.append(0.0)
                hover.append("")
                continue
            first, last = span[0] - cell.low, span[1] - cell.low
            share = 100 * sum(cell_shares[first : last + 1])
            shares.append(share)
            hover.append(f"{_band_text(cell.kind, bands, meaning)}: {share:.0f}%")
        if meaning == "negative":
            parts = [[-v for v in shares]]
        elif meaning == "positive":
            parts = [shares]
        else:
            parts = [[-v / 2 for v in shares], [v / 2 for v in shares]]
        for number, part in enumerate(parts):
            data.append(
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": names,
                    "x": part,
                    "name": title,
                    "legendgroup": meaning,
                    "showlegend": number == 0,
                    "marker": {"color": colour},
                    "customdata": hover,
                    "hovertemplate": "%{y}<br>%{customdata}<extra></extra>",
                }
            )
    return {
        "data": data,
        "layout": _layout(
            barmode="relative",
            xaxis={
                "title": {"text": "% of answers"},
                "range": [-100, 100],
                "tickvals": [-100, -50, 0, 50, 100],
                "ticktext": ["100%", "50%", "0", "50%", "100%"],
                "zeroline": True,
                "zerolinecolor": "#1a1a1a",
                "gridcolor": "#e5e5e5",
                "automargin": True,
            },
            yaxis={
                "autorange": "reversed",
                "automargin": True,
                "categoryorder": "array",
                "categoryarray": names,
            },
            height=max(300, 120 + 46 * len(rows)),
        ),
    }


def trend_lines(
    series: Sequence[tuple[str, list[TrendPoint], Trend | None]],
    labels: Sequence[str],
    *,
    unit: str,
    breaks: Sequence[int] = (),
    unfinished: int | None = None,
) -> Figure:
    """The gap of each step per period with its 95% interval.

    `breaks`: indexes of the periods whose employee side comes from a newer round than the
    period before; the line is broken there and a dotted line marks the round. `unfinished`:
    the index of a period still running; its point is drawn hollow and labelled "so far".
    """
    labels = [wrap(label, 8) for label in labels]
    data = []
    for name, points, _ in series:
        x: list[str] = []
        y: list[float | None] = []
        bounds: list[Any] = []
        symbols: list[str] = []
        previous = None
        for point in points:
            period = point.period
            if previous is not None and any(previous < b <= period for b in breaks):
                x.append(labels[period])
                y.append(None)
                bounds.append(None)
                symbols.append("circle")
            se = point.standard_error
            gap = point.gap
            x.append(labels[period])
            y.append(gap)
            bounds.append((gap - 1.96 * se, gap + 1.96 * se) if se else None)
            symbols.append("circle-open" if period == unfinished else "circle")
            previous = period
        trace: dict[str, Any] = {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": y,
            "name": name,
            "connectgaps": False,
            "marker": {"symbol": symbols, "size": 8},
            "hovertemplate": "%{x}: %{y:+.0f} points<extra>" + name + "</extra>",
        }
        whiskers = _whiskers(y, bounds)
        if whiskers:
            trace["error_y"] = whiskers
        data.append(trace)
    shapes = [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": labels[b],
            "x1": labels[b],
            "y0": 0,
            "y1": 1,
            "line": {"dash": "dot", "color": "#4a4a4a", "width": 1},
        }
        for b in breaks
        if 0 <= b < len(labels)
    ]
    return {
        "data": data,
        "layout": _layout(
            xaxis={
                "type": "category",
                "categoryorder": "array",
                "categoryarray": list(labels),
                "range": [-0.5, len(labels) - 0.5],
                "automargin": True,
            },
            yaxis={
                "title": {"text": f"Gap in points per {unit}"},
                "zeroline": True,
                "zerolinecolor": "#1a1a1a",
                "gridcolor": "#e5e5e5",
                "automargin": True,
            },
            shapes=shapes,
            height=420,
        ),
    }


def sparkline(points: Sequence[TrendPoint], labels: Sequence[str]) -> Figure:
    """A small trend of a department's gap for the overview table."""
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": [labels[p.period] for p in points],
                "y": [p.gap for p in points],
                "line": {"color": EMPLOYEE, "width": 2},
                "marker": {"size": 4},
                "hovertemplate": "%{x}: %{y:+.1f}<extra></extra>",
            }
        ],
        "layout": {
            "height": 48,
            "width": 180,
            "margin": {"l": 2, "r": 2, "t": 2, "b": 2},
            "xaxis": {"visible": False, "type": "category", "categoryarray": list(labels)},
            "yaxis": {"visible": False, "zeroline": True},
            "showlegend": False,
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
        },
    }


def to_json(figure: Figure) -> str:
    """Figure JSON that is safe inside an HTML data block (no `<`, `>` or `&` characters)."""
    text = json.dumps(figure, separators=(",", ":"), allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
