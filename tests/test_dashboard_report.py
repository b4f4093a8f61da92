"""`listening report`: a standalone HTML report that opens offline, PNG/PDF through kaleido."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dashboard_data import TODAY, scenario

from dashboards.filters import parse_filters
from dashboards.report import ReportError, build_report, chromium, write_report

VIEW = {"from": "2026-10-01", "to": TODAY.isoformat()}


def run_cli(args: list[str]) -> subprocess.CompletedProcess:
    # The test database's environment (set by conftest) is inherited.
    return subprocess.run(
        [sys.executable, "-m", "listening.cli", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=180,
    )


def assert_offline(html: str) -> None:
    # Nothing to fetch: no script or link element with a source, plotly.js inline.
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup)
    assert "<link" not in markup and "<script src" not in markup
    assert "Plotly.newPlot" in html and "plotly.js" in html.lower()


async def test_html_report_of_a_department_is_standalone(db, tmp_path):
    await scenario(days=20)
    filters = parse_filters(VIEW, today=TODAY)
    report = await build_report(filters, department="shop", threshold=5, comment_threshold=10)
    out = tmp_path / "shop.html"
    assert write_report(report, out) == "html"
    html = out.read_text(encoding="utf-8")
    assert_offline(html)
    assert "Online Shop" in html and 'id="step-table"' in html
    blocks = re.findall(
        r'<script type="application/json" id="figure-([\w-]+)">(.*?)</script>', html, re.S
    )
    assert {name for name, _ in blocks} >= {"journey", "gaps"}
    for _, body in blocks:
        json.loads(body)


async def test_cli_writes_the_overview_report(db, tmp_path):
    await scenario(days=20)
    out = tmp_path / "overview.html"
    done = run_cli(["report", "--from", VIEW["from"], "--to", VIEW["to"], "--out", str(out)])
    assert done.returncode == 0, done.stderr
    assert "html report written" in done.stdout
    html = out.read_text(encoding="utf-8")
    assert_offline(html)
    assert re.search(r'id="headline">Employees rate their steps \d+/100', html)
    unknown = run_cli(["report", "--department", "nowhere", "--out", str(tmp_path / "x.html")])
    assert unknown.returncode != 0 and "nowhere" in unknown.stderr


async def test_unknown_format_is_refused(db, tmp_path):
    await scenario(days=3)
    report = await build_report(
        parse_filters({}, today=TODAY), department=None, threshold=5, comment_threshold=10
    )
    with pytest.raises(ReportError, match=r"\.html"):
        write_report(report, tmp_path / "report.docx")


async def test_image_without_chromium_says_what_to_install(db, tmp_path, monkeypatch):
    await scenario(days=3)
    report = await build_report(
        parse_filters({}, today=TODAY), department=None, threshold=5, comment_threshold=10
    )
    monkeypatch.setattr("dashboards.report.chromium", lambda: None)
    with pytest.raises(ReportError, match="chromium"):
        write_report(report, tmp_path / "report.png")


@pytest.mark.slow
async def test_pdf_report_through_kaleido(db, tmp_path):
    assert chromium() is not None, "install Debian's chromium (apt-get install chromium)"
    await scenario(days=10)
    report = await build_report(
        parse_filters(VIEW, today=TODAY), department="shop", threshold=5, comment_threshold=10
    )
    out = tmp_path / "shop.pdf"
    assert write_report(report, out) == "pdf"
    assert Path(out).read_bytes()[:5] == b"%PDF-"


async def test_the_report_reads_verdicts_with_the_configured_minimum_of_raters(db):
    await scenario(days=20)
    filters = parse_filters(VIEW, today=TODAY)

    async def verdicts(minimum: int) -> dict[str, str | None]:
        built = await build_report(
            filters,
            department="shop",
            threshold=5,
            comment_threshold=10,
            verdict_min_raters=minimum,
        )
        return {c.step: c.verdict for c in built.context["cells"]}

    # Checkout has 8 raters: below the default minimum of 10 its gap is a number without a
    # verdict; with the minimum set to 5 it gets one.
    assert (await verdicts(10))["checkout"] == "indicative"
    assert (await verdicts(5))["checkout"] in ("clear", "not yet clear")
