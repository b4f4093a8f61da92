"""The dashboard pages: headline, tables that work without JavaScript, suppression shown with
its reason, figures as data blocks (no inline script), escaping, plotly.js from the package."""

from __future__ import annotations

import json
import re

import plotly.graph_objects as go
import pytest
from dashboard_data import TODAY, add_responses
from plotly.offline import get_plotlyjs

VIEW = {"from": "2026-10-01", "to": TODAY.isoformat()}
HTML = {"accept": "text/html"}


@pytest.fixture
async def pages(dashboard_scenario, admin_client):
    await add_responses(
        "get-advice", "csat", [2], TODAY, texts={"comment": "<script>alert(1)</script> & more"}
    )
    return admin_client


def scripts(html: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", html)


def figures(html: str) -> dict[str, dict]:
    blocks = re.findall(
        r'<script type="application/json" id="figure-([\w-]+)">(.*?)</script>', html, re.S
    )
    return {name: json.loads(body) for name, body in blocks}


async def test_overview_headline_table_and_figures(pages):
    page = await pages.get("/dashboards", params=VIEW, headers=HTML)
    assert page.status_code == 200
    html = page.text
    headline = re.search(r'id="headline">([^<]*)<', html).group(1)
    assert re.fullmatch(
        r"Employees rate their steps \d+/100; customers rate them \d+/100: an? −?\d+-point gap "
        r"\(95% CI −?\d+–−?\d+\)\.",
        headline,
    ), headline
    for name in ("Online Shop", "Logistics", "Customer Support", "Sales", "Marketing"):
        assert name in html
    found = figures(html)
    assert "departments" in found and any(k.startswith("spark-") for k in found)
    for figure in found.values():
        go.Figure(figure)  # a valid plotly figure: raises on an unknown property
    # No inline script: every script is a file or a JSON data block.
    for tag in scripts(html):
        assert 'src="/static/dashboards/' in tag or 'type="application/json"' in tag, tag
    assert "cdn" not in " ".join(scripts(html)).lower()
    # The same numbers without JavaScript: a table row per department.
    assert len(re.findall(r"<tr [^>]*data-department=", html)) == 5


async def test_department_page_shows_suppression_with_its_reason(pages):
    page = await pages.get("/dashboards/logistics", params=VIEW, headers=HTML)
    assert page.status_code == 200
    rows = dict(
        re.findall(r'<tr class="([^"]*)" data-step="([\w-]+)"', page.text)[i][::-1]
        for i in range(2)
    )
    assert rows == {"order-delivered": "suppressed", "return-item": "suppressed"}
    assert "Hidden: fewer than 5 employees rated this." in page.text
    assert "Hidden so that a smaller hidden group cannot be worked out from the total." in page.text
    found = figures(page.text)
    journey = found["journey"]
    # Hidden: no team trace at all, not even its legend entry.
    assert [t["name"] for t in journey["data"]] == ["Customers", "Moment of truth"] or [
        t["name"] for t in journey["data"]
    ] == ["Customers"]
    assert "distribution" in found
    labels = [y for trace in found["distribution"]["data"] for y in trace["y"]]
    assert not any("<i>employees</i>" in label for label in labels)


async def test_department_page_charts_comments_and_unsolicited(pages):
    page = await pages.get("/dashboards/shop", params=VIEW, headers=HTML)
    html = page.text
    found = figures(html)
    assert {"journey", "gaps", "distribution", "trend"} <= set(found)
    for figure in found.values():
        go.Figure(figure)
    gap_trace = found["gaps"]["data"][0]
    assert gap_trace["x"] == sorted(gap_trace["x"], reverse=True)
    assert any("★" in label for label in found["journey"]["data"][2]["x"])  # checkout
    # Unsolicited feedback has its own table and stays out of the gap.
    unsolicited = re.search(r'<table id="unsolicited-table">(.*?)</table>', html, re.S).group(1)
    assert ">2<" in unsolicited
    assert 'id="step-table"' in html and 'id="trend-table"' in html


async def test_customer_comments_are_escaped(pages):
    html = (await pages.get("/dashboards/sales", params=VIEW, headers=HTML)).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html


async def test_figure_json_cannot_close_its_script_block(pages):
    await add_responses("checkout", "effort", [3], TODAY)
    from dashboards.charts import to_json

    text = to_json({"data": [{"type": "bar", "name": "</script><b>x</b>"}], "layout": {}})
    assert "</script>" not in text and "<" not in text
    assert json.loads(text)["data"][0]["name"] == "</script><b>x</b>"


async def test_plotly_is_served_from_the_installed_package(pages):
    answer = await pages.get("/static/dashboards/plotly.min.js")
    assert answer.status_code == 200
    assert answer.content == get_plotlyjs().encode("utf-8")
    assert "javascript" in answer.headers["content-type"]
    script = await pages.get("/static/dashboards/charts.js")
    assert script.status_code == 200 and "Plotly.newPlot" in script.text


async def test_filters_survive_in_links_and_the_form(pages):
    params = VIEW | {"journey": "buy-online", "segment.channel": "phone", "compare": "previous"}
    page = await pages.get("/dashboards", params=params, headers=HTML)
    assert page.status_code == 200
    assert "segment.channel=phone" in page.text
    assert 'value="channel=phone"' in page.text
    assert "journey=buy-online" in page.text
    # The form's own segment field reads the same as segment.<attribute>.
    form = await pages.get("/dashboards", params=VIEW | {"segment": "channel=phone"}, headers=HTML)
    assert re.search(r'id="headline">([^<]*)<', form.text).group(1) == re.search(
        r'id="headline">([^<]*)<',
        (await pages.get("/dashboards", params=VIEW | {"segment.channel": "phone"})).text,
    ).group(1)


def test_tooltips_word_small_p_values_as_less_than():
    from dashboards.pages import Formats, trend_technical
    from dashboards.rows import Trend

    assert Formats.p_is("p", 0.0004) == "p < 0.001"
    assert Formats.p_is("q", 0.0123) == "q = 0.012"
    assert Formats.p_is("p", None) == "p = —"
    falling = Trend(
        n_periods=8,
        slope=-0.094,
        slope_low=-1.2,
        slope_high=0.4,
        intercept=3.0,
        kendall_tau=-0.03,
        pvalue=0.0002,
        reason=None,
        n_blocks=1,
        qvalue=0.04,
    )
    assert trend_technical(falling, "week") == (
        "Theil–Sen slope −0.09 points per week (−1 to 0); Mann–Kendall tau −0.03, "
        "p < 0.001, q = 0.040 (over the view's trends)"
    )
