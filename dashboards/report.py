"""Standalone reports: an HTML file that opens offline, or a PNG/PDF image through kaleido.

The HTML report carries its stylesheet, plotly.js and its figures inside the one file, and its
tables carry the same numbers for readers without JavaScript. PNG and PDF are drawn by kaleido,
which needs a Chromium: Debian's `chromium` package (kaleido is the `report` extra).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from dashboards import charts, gaps, pages, stats
from dashboards.audience import EMPLOYEES, TeamWords
from dashboards.filters import Filters

HERE = Path(__file__).parent
FORMATS = (".html", ".png", ".pdf")
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


class ReportError(Exception):
    """A report cannot be written as asked (unknown format, no Chromium for images)."""


@dataclass
class Report:
    """A built report: its title, the page context and the figures for an image."""

    title: str
    kind: str  # "overview" or "department"
    context: dict[str, Any]
    figures: list[charts.Figure]


async def build_report(
    filters: Filters,
    *,
    department: str | None,
    threshold: int,
    comment_threshold: int,
    verdict_min_raters: int = stats.VERDICT_MIN_RATERS,
    team: TeamWords = EMPLOYEES,
) -> Report:
    """The overview (or one department's page) of a view, ready to write, its raters named
    for `team`'s reader ("your team" in an employee's own report)."""
    if department is None:
        view, _ = await gaps.overview(
            filters, threshold=threshold, verdict_min_raters=verdict_min_raters
        )
        context = pages.overview_context(view, team)
        figures = [charts.gap_bars(view.departments, title="Gap per department", team=team)]
        return Report("Perception gap: all departments", "overview", context, figures)
    view = await gaps.department_view(
        department,
        filters,
        threshold=threshold,
        comment_threshold=comment_threshold,
        verdict_min_raters=verdict_min_raters,
    )
    context = pages.department_context(view, team=team)
    figures = [charts.journey_map(view.cells, title="Journey map", team=team)]
    if any(c.gap is not None for c in view.cells):
        figures.append(charts.gap_bars(view.cells, title="Gap per step", team=team))
    return Report(f"Perception gap: {view.department.name}", "department", context, figures)


def render_html(report: Report, *, now: datetime | None = None) -> str:
    """The report as one HTML document with everything inline (opens without a network)."""
    from plotly.offline import get_plotlyjs

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    styles = "\n".join(
        path.read_text(encoding="utf-8")
        for path in (
            HERE.parent / "surveys" / "static" / "site.css",
            HERE / "static" / "dashboards.css",
        )
        if path.is_file()
    )
    template = environment.get_template("dashboards/report.html")
    return template.render(
        report.context
        | {
            "report": report,
            "styles": styles,
            "plotly_js": get_plotlyjs().replace("</script", "<\\/script"),
            "charts_js": (HERE / "static" / "charts.js").read_text(encoding="utf-8"),
            "generated": (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        }
    )


def chromium() -> str | None:
    """The Chromium kaleido can drive, if one is installed."""
    found = os.environ.get("BROWSER_PATH") or shutil.which("chromium")
    if found:
        return found
    return next((c for c in CHROMIUM_CANDIDATES if Path(c).is_file()), None)


def write_image(report: Report, out: Path) -> None:
    """The report's figures stacked into one PNG or PDF, through kaleido and Chromium."""
    browser = chromium()
    if browser is None:
        raise ReportError(
            "PNG and PDF reports need Chromium: install Debian's chromium package "
            "(apt install chromium), or write an .html report, which needs nothing."
        )
    try:
        import kaleido
    except ImportError:
        raise ReportError(
            "PNG and PDF reports need kaleido: pip install 'listening-post[report]'"
        ) from None
    os.environ.setdefault("BROWSER_PATH", browser)
    figure = _stacked(report)
    kaleido.write_fig_sync(figure, str(out), opts={"format": out.suffix.lstrip(".")})


def _stacked(report: Report) -> Any:
    """One plotly figure with the report's figures one under another, and its headline."""
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    rows = len(report.figures)
    titles = [f["layout"].get("title", {}).get("text", "") for f in report.figures]
    heights = [f["layout"].get("height", 400) for f in report.figures]
    figure = make_subplots(
        rows=rows,
        cols=1,
        subplot_titles=titles,
        row_heights=heights,
        vertical_spacing=min(0.12, 0.5 / max(rows, 1)),
    )
    for row, source in enumerate(report.figures, start=1):
        for trace in source["data"]:
            figure.add_trace(go.Figure({"data": [trace]}).data[0], row=row, col=1)
        layout = source["layout"]
        for axis in ("xaxis", "yaxis"):
            settings = {
                k: v for k, v in layout.get(axis, {}).items() if k not in ("title", "domain")
            }
            if axis == "xaxis":
                figure.update_xaxes(settings, row=row, col=1)
            else:
                figure.update_yaxes(settings, row=row, col=1)
    headline = report.context.get("headline") or report.context.get("summary_sentence", "")
    figure.update_layout(
        title={"text": f"{report.title}<br><sup>{headline}</sup>"},
        height=sum(heights) + 160,
        width=1100,
        font=charts.FONT,
        showlegend=True,
        legend={"orientation": "h"},
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
        margin={"t": 120},
    )
    return figure


def write_report(report: Report, out: Path) -> str:
    """Write the report in the format its file name asks for; returns that format."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ReportError(f"the report's file must end in {', '.join(FORMATS)}, not {out.name!r}")
    if suffix == ".html":
        out.write_text(render_html(report), encoding="utf-8")
    else:
        write_image(report, out)
    return suffix.lstrip(".")
