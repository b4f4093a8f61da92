"""Plotly figures of the dashboards, as plain figure dicts (`{"data": [...], "layout": {...}}`).

Plain dicts are what `Plotly.newPlot` takes and what `plotly.graph_objects.Figure(...)` accepts
(the report and the image export wrap them so), and building them costs next to nothing.
Every figure only shows numbers the gap service already cleared for anonymity.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

CUSTOMER = "#0b5cad"
CUSTOMER_BAND = "rgba(11, 92, 173, 0.15)"
EMPLOYEE = "#b35900"
GAP_SHADE = "rgba(179, 89, 0, 0.18)"
POSITIVE = "#b35900"  # employees think better of it than customers do
NEGATIVE = "#0b5cad"
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}
# Diverging palette from the worst to the best level (ColorBrewer RdBu, colour-blind safe).
DIVERGING = ["#b2182b", "#d6604d", "#f4a582", "#d9d9d9", "#92c5de", "#4393c3", "#2166ac"]

Figure = dict[str, Any]


def _layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "font": FONT,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 60},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "closest",
    }
    layout.update(extra)
    return layout


def cell_label(cell: dict[str, Any], *, with_question: bool) -> str:
    """A step's name for an axis, the question's key added when a step has several."""
    star = "★ " if cell.get("moment_of_truth") else ""
    name = f"{star}{cell['step_name']}"
    return f"{name} · {cell['question']}" if with_question else name


def _labels(cells: Sequence[dict[str, Any]]) -> list[str]:
    steps = [c["step"] for c in cells]
    return [cell_label(c, with_question=steps.count(c["step"]) > 1) for c in cells]


def journey_map(cells: Sequence[dict[str, Any]], *, title: str = "Journey map") -> Figure:
    """Steps in journey order: customers with their 95% band, employees, the gap shaded."""
    labels = _labels(cells)
    customer = [c["customer_score"] for c in cells]
    band = [c.get("customer_ci") for c in cells]
    employee = [c["employee_score"] for c in cells]
    moments = [
        (label, c["customer_score"])
        for label, c in zip(labels, cells, strict=True)
        if c.get("moment_of_truth") and c["customer_score"] is not None
    ]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": labels,
            "y": [b[1] if b else None for b in band],
            "mode": "lines",
            "line": {"width": 0},
            "hoverinfo": "skip",
            "showlegend": False,
            "name": "Customers, upper 95%",
        },
        {
            "type": "scatter",
            "x": labels,
            "y": [b[0] if b else None for b in band],
            "mode": "lines",
            "line": {"width": 0},
            "fill": "tonexty",
            "fillcolor": CUSTOMER_BAND,
            "hoverinfo": "skip",
            "name": "Customers, 95% interval",
        },
        {
            "type": "scatter",
            "x": labels,
            "y": customer,
            "mode": "lines+markers",
            "line": {"color": CUSTOMER, "width": 3},
            "marker": {"size": 9},
            "name": "Customers",
            "hovertemplate": "%{x}<br>Customers: %{y:.0f}/100<extra></extra>",
        },
        {
            "type": "scatter",
            "x": labels,
            "y": employee,
            "mode": "lines+markers",
            "line": {"color": EMPLOYEE, "width": 3, "dash": "dash"},
            "marker": {"size": 9, "symbol": "diamond"},
            "fill": "tonexty",
            "fillcolor": GAP_SHADE,
            "name": "Employees (gap shaded)",
            "hovertemplate": "%{x}<br>Employees: %{y:.0f}/100<extra></extra>",
        },
    ]
    if moments:
        data.append(
            {
                "type": "scatter",
                "x": [m[0] for m in moments],
                "y": [m[1] for m in moments],
                "mode": "markers",
                "marker": {"symbol": "star", "size": 18, "color": "#1a1a1a"},
                "name": "Moment of truth",
                "hovertemplate": "%{x}: a moment of truth<extra></extra>",
            }
        )
    return {
        "data": data,
        "layout": _layout(
            title={"text": title},
            yaxis={"title": {"text": "Score (0–100)"}, "range": [0, 100], "gridcolor": "#e5e5e5"},
            xaxis={"type": "category", "categoryorder": "array", "categoryarray": labels},
            legend={"orientation": "h", "y": -0.25},
            height=420,
        ),
    }


def gap_bars(
    rows: Sequence[dict[str, Any]], *, label: str = "step", title: str = "Gap per step"
) -> Figure:
    """Gaps with their 95% intervals, largest first; rows without a gap are left out."""
    shown = [r for r in rows if r.get("gap") is not None]
    shown.sort(key=lambda r: r["gap"], reverse=True)
    names = _labels(shown) if label == "step" else [str(r.get("name") or r[label]) for r in shown]
    gaps = [r["gap"] for r in shown]
    plus = [(r["gap_high"] - r["gap"]) if r.get("gap_high") is not None else 0 for r in shown]
    minus = [(r["gap"] - r["gap_low"]) if r.get("gap_low") is not None else 0 for r in shown]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": names,
                "x": gaps,
                "marker": {"color": [POSITIVE if g >= 0 else NEGATIVE for g in gaps]},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": plus,
                    "arrayminus": minus,
                    "color": "#1a1a1a",
                },
                "name": "Gap (employees − customers)",
                "hovertemplate": "%{y}: %{x:+.1f} points<extra></extra>",
            }
        ],
        "layout": _layout(
            title={"text": title},
            xaxis={
                "title": {"text": "Gap in points (employees − customers), 95% interval"},
                "zeroline": True,
                "zerolinecolor": "#1a1a1a",
                "gridcolor": "#e5e5e5",
            },
            # Largest first: plotly draws the first category at the bottom, so reverse the axis.
            yaxis={"autorange": "reversed", "automargin": True},
            height=max(220, 70 + 42 * len(shown)),
            showlegend=False,
        ),
    }


def _palette(levels: int) -> list[str]:
    """`levels` colours from the diverging palette, worst to best."""
    if levels <= 1:
        return [DIVERGING[3]]
    step = (len(DIVERGING) - 1) / (levels - 1)
    return [DIVERGING[round(i * step)] for i in range(levels)]


def distribution_bars(cells: Sequence[dict[str, Any]]) -> Figure:
    """Diverging stacked bars of each step's scores, customers beside employees.

    Levels below the middle of the scale go left, above it right, the middle level is split
    across zero; shares are percentages of each group's ratings.
    """
    labels = _labels(cells)
    rows: list[tuple[str, dict[str, Any], list[float]]] = []
    for label, cell in zip(labels, cells, strict=True):
        if cell.get("customer_shares"):
            rows.append((f"{label} — customers", cell, cell["customer_shares"]))
        if cell.get("employee_shares"):
            rows.append((f"{label} — employees", cell, cell["employee_shares"]))
    data: list[dict[str, Any]] = []
    kinds = list(dict.fromkeys(cell["kind"] for _, cell, _ in rows))
    for kind in kinds:
        mine = [(name, cell, shares) for name, cell, shares in rows if cell["kind"] == kind]
        cell = mine[0][1]
        low, high = cell["low"], cell["high"]
        count = high - low + 1
        colours = _palette(count)
        middle = (count - 1) / 2
        for index in range(count):
            level = low + index
            name = f"{kind.upper()} {level}"
            if index == 0:
                name += f" ({cell['low_label']})"
            elif index == count - 1:
                name += f" ({cell['high_label']})"
            values = [100 * shares[index] for _, _, shares in mine]
            parts = []
            if index < middle:
                parts = [[-v for v in values]]
            elif index > middle:
                parts = [values]
            else:
                parts = [[-v / 2 for v in values], [v / 2 for v in values]]
            for number, part in enumerate(parts):
                data.append(
                    {
                        "type": "bar",
                        "orientation": "h",
                        "y": [n for n, _, _ in mine],
                        "x": part,
                        "name": name,
                        "legendgroup": name,
                        "showlegend": number == 0,
                        "marker": {"color": colours[index]},
                        "customdata": values,
                        "hovertemplate": f"%{{y}}<br>{name}: %{{customdata:.0f}}%<extra></extra>",
                    }
                )
    return {
        "data": data,
        "layout": _layout(
            title={"text": "How the scores spread, customers beside employees"},
            barmode="relative",
            xaxis={
                "title": {"text": "% of ratings (lower levels left, higher right)"},
                "range": [-100, 100],
                "zeroline": True,
                "zerolinecolor": "#1a1a1a",
                "gridcolor": "#e5e5e5",
            },
            yaxis={
                "autorange": "reversed",
                "automargin": True,
                "categoryorder": "array",
                "categoryarray": [n for n, _, _ in rows],
            },
            legend={"orientation": "h", "y": -0.35, "yanchor": "top"},
            height=max(300, 160 + 34 * len(rows)),
        ),
    }


def trend_lines(
    series: Sequence[tuple[str, list[dict[str, Any]], dict[str, Any] | None]],
    labels: Sequence[str],
    *,
    unit: str,
) -> Figure:
    """The gap of each step per period; the legend gives each Theil–Sen slope."""
    data = []
    for name, points, slope in series:
        legend = name
        if slope and slope.get("slope") is not None:
            legend += f" ({slope['slope']:+.1f} per {unit})"
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": [labels[p["period"]] for p in points],
                "y": [p["gap"] for p in points],
                "name": legend,
                "hovertemplate": "%{x}: %{y:+.1f} points<extra>" + name + "</extra>",
            }
        )
    return {
        "data": data,
        "layout": _layout(
            title={"text": f"Gap per {unit}"},
            xaxis={"type": "category", "categoryorder": "array", "categoryarray": list(labels)},
            yaxis={
                "title": {"text": "Gap in points"},
                "zeroline": True,
                "zerolinecolor": "#1a1a1a",
                "gridcolor": "#e5e5e5",
            },
            legend={"orientation": "h", "y": -0.25},
            height=380,
        ),
    }


def sparkline(points: Sequence[dict[str, Any]], labels: Sequence[str]) -> Figure:
    """A small trend of a department's gap for the overview table."""
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": [labels[p["period"]] for p in points],
                "y": [p["gap"] for p in points],
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
