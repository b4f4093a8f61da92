"""The gap service and /api/gaps: tallies, equality with dashboards.stats on raw rows, filters,
anonymity."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from conftest import PASSWORD, login
from dashboard_data import CUSTOMER_CELLS, EMPLOYEE_SCORES, ROUND_END, TODAY, scenario

from dashboards import stats
from dashboards.filters import parse_filters
from dashboards.gaps import CELL_KEYS, department_view, gap_rows, overview
from dashboards.queries import load_catalog, read_counts
from dashboards.rows import values_of
from surveys.accounts import create_user
from surveys.scales import scale_of
from surveys.tables import Answer, ResponseSegment, SelfRatingScore
from surveys.tallies import recompute, stored

VIEW = {"from": "2026-10-01", "to": TODAY.isoformat()}


async def raw_customer_counts(
    start: date, end: date, *, channel: str | None = None
) -> Counter[tuple[str, str, str, int]]:
    """(department, step, question, score) counts straight from Response and Answer rows."""
    rows = await Answer.select(
        Answer.score,
        Answer.question.key.as_alias("question"),
        Answer.response.id.as_alias("response"),
        Answer.response.source.as_alias("source"),
        Answer.response.submitted_at.as_alias("at"),
        Answer.response.step.key.as_alias("step"),
        Answer.response.step.department.key.as_alias("department"),
    ).where(Answer.score.is_not_null())
    phone = None
    if channel is not None:
        phone = {
            r["response"]
            for r in await ResponseSegment.select(ResponseSegment.response).where(
                (ResponseSegment.name == "channel") & (ResponseSegment.value == channel)
            )
        }
    counts: Counter = Counter()
    for r in rows:
        if r["source"] != "invited" or not start <= r["at"].date() <= end:
            continue
        if phone is not None and r["response"] not in phone:
            continue
        counts[(r["department"], r["step"], r["question"], r["score"])] += 1
    return counts


async def raw_employee_counts(round_id: int) -> Counter[tuple[str, str, str, int]]:
    """(department, step, question, score) counts of one round from SelfRatingScore rows."""
    rows = await SelfRatingScore.select(
        SelfRatingScore.score,
        SelfRatingScore.question.key.as_alias("question"),
        SelfRatingScore.rating.round.id.as_alias("round"),
        SelfRatingScore.rating.step.key.as_alias("step"),
        SelfRatingScore.rating.step.department.key.as_alias("department"),
    )
    return Counter(
        (r["department"], r["step"], r["question"], r["score"])
        for r in rows
        if r["round"] == round_id
    )


def expected_table(
    customers: Counter, employees: Counter, cells: list[tuple[str, str, str]], hidden: set
) -> pl.DataFrame:
    """dashboards.stats.gap_table on raw counts, hidden cells' employee ratings left out."""
    rows = []
    for cell in cells:
        kind = "csat" if cell[2] in ("csat", "relevance") else "ces"  # the demo's rating kinds
        low, high = scale_of(kind)
        rows.append((*cell, "customer", low, 0, low, high))
        for (d, s, q, score), n in customers.items():
            if (d, s, q) == cell:
                rows.append((*cell, "customer", score, n, low, high))
        for (d, s, q, score), n in employees.items():
            if (d, s, q) == cell and cell not in hidden:
                rows.append((*cell, "employee", score, n, low, high))
    frame = pl.DataFrame(
        rows,
        schema=[*CELL_KEYS, "source", "level", "count", "scale_low", "scale_high"],
        orient="row",
    )
    return stats.gap_table(frame, by=CELL_KEYS, min_employees=5)


# The scenario's hidden cells: four raters on order-delivered, return-item complementary.
HIDDEN = {("logistics", "order-delivered", "csat"), ("logistics", "return-item", "effort")}

COMPARED = [
    "n_customers",
    "customer_score",
    "employee_score",
    "gap",
    "gap_low",
    "gap_high",
    "standard_error",
    "relative_effect",
    "pvalue",
    "qvalue",
    "method",
    "cliffs_delta",
    "magnitude",
    "verdict",
]


def assert_same(actual: dict, expected: dict) -> None:
    for name in COMPARED:
        a, e = actual[name], expected[name]
        if isinstance(e, float):
            assert a == pytest.approx(e, rel=1e-12, abs=1e-12), name
        else:
            assert a == e, name


@pytest.fixture
async def round_id(db) -> int:
    return await scenario()


async def test_tallies_equal_recomputation_and_read_layer_equals_raw_rows(round_id):
    assert await stored() == await recompute()
    catalog = await load_catalog()
    cells = catalog.cells()
    start = date(2026, 10, 1)
    frame = await read_counts(catalog, cells, start, TODAY)
    customers = frame.filter(pl.col("source") == "customer")
    read = Counter(
        {
            (d, s, q, level): n
            for d, s, q, level, n in customers.group_by([*CELL_KEYS, "level"])
            .agg(pl.col("count").sum())
            .iter_rows()
        }
    )
    assert read == await raw_customer_counts(start, TODAY)
    employees = frame.filter(pl.col("source") == "employee")
    assert set(employees["round_id"].to_list()) == {round_id}
    assert set(employees["day"].to_list()) == {ROUND_END}
    assert employees["count"].sum() == sum(len(v) for v in EMPLOYEE_SCORES.values())
    unsolicited = frame.filter(pl.col("source") == "unsolicited")
    assert unsolicited["count"].sum() == 2


async def test_department_page_table_equals_stats_on_raw_rows(round_id):
    filters = parse_filters(VIEW, today=TODAY)
    view = await department_view("shop", filters, threshold=5, comment_threshold=10)
    cells = [(c.department, c.step, c.question) for c in view.cells]
    assert ("shop", "checkout", "effort") in cells
    # One BH family: every cell of the organisation in the view, not just this page's.
    expected = expected_table(
        await raw_customer_counts(filters.start, filters.end),
        await raw_employee_counts(round_id),
        (await load_catalog()).cells(),
        hidden=HIDDEN,
    )
    by_cell = {tuple(r[k] for k in CELL_KEYS): r for r in expected.iter_rows(named=True)}
    for cell in view.cells:
        assert_same(values_of(cell), by_cell[cell.cell])
    checkout = next(c for c in view.cells if c.step == "checkout")
    assert checkout.n_employees == len(EMPLOYEE_SCORES[("shop", "checkout", "effort")])
    assert checkout.gap is not None and checkout.gap_low < checkout.gap


async def test_api_gaps_equals_stats_and_carries_intervals_as_arrays(round_id, admin_key, client):
    answer = await client.get(
        "/api/gaps",
        params=VIEW | {"department": "support"},
        headers={"authorization": f"Bearer {admin_key}"},
    )
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    assert {r["department"] for r in rows} == {"support"}
    # One BH family: every cell of the organisation in the view, whatever department is asked.
    expected = expected_table(
        await raw_customer_counts(date(2026, 10, 1), TODAY),
        await raw_employee_counts(round_id),
        (await load_catalog()).cells(),
        hidden=HIDDEN,
    )
    wanted = {tuple(w[k] for k in CELL_KEYS): w for w in expected.iter_rows(named=True)}
    for row in rows:
        want = wanted[(row["department"], row["step"], row["question"])]
        flat = row | {
            "gap_low": row["gap_ci"][0],
            "gap_high": row["gap_ci"][1],
        }
        assert_same(flat, want)
        assert row["relative_effect_ci"] == pytest.approx(
            [want["relative_effect_low"], want["relative_effect_high"]]
        )
        assert row["qvalue"] is not None


async def test_date_filter_counts_only_the_chosen_days(round_id, admin_key, client):
    headers = {"authorization": f"Bearer {admin_key}"}
    narrow = {"from": "2026-11-10", "to": "2026-11-15", "department": "shop"}
    rows = (await client.get("/api/gaps", params=narrow, headers=headers)).json()
    raw = await raw_customer_counts(date(2026, 11, 10), date(2026, 11, 15))
    for row in rows:
        n = sum(
            v
            for (d, s, q, _), v in raw.items()
            if (d, s, q) == (row["department"], row["step"], row["question"])
        )
        assert row["n_customers"] == n
    checkout = next(r for r in rows if r["step"] == "checkout")
    assert checkout["n_customers"] == 6 * 3


async def test_journey_filter_narrows_the_steps(round_id, admin_key, client):
    headers = {"authorization": f"Bearer {admin_key}"}
    rows = (
        await client.get("/api/gaps", params=VIEW | {"journey": "get-help"}, headers=headers)
    ).json()
    catalog = await load_catalog()
    steps = {key for key, info in catalog.steps.items() if info.journey == "get-help"}
    assert rows and {r["step"] for r in rows} <= steps
    assert {r["journey"] for r in rows} == {"get-help"}
    bad = await client.get("/api/gaps", params={"journey": "nope"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["field"] == "journey"


async def test_segment_filter_reads_the_raw_rows(round_id, admin_key, client):
    headers = {"authorization": f"Bearer {admin_key}"}
    params = VIEW | {"department": "shop", "segment.channel": "phone"}
    rows = (await client.get("/api/gaps", params=params, headers=headers)).json()
    phone = await raw_customer_counts(date(2026, 10, 1), TODAY, channel="phone")
    expected = expected_table(
        phone, await raw_employee_counts(round_id), (await load_catalog()).cells(), hidden=HIDDEN
    )
    wanted = {tuple(w[k] for k in CELL_KEYS): w for w in expected.iter_rows(named=True)}
    for row in rows:
        want = wanted[(row["department"], row["step"], row["question"])]
        assert_same(
            row
            | {
                "gap_low": row["gap_ci"] and row["gap_ci"][0],
                "gap_high": row["gap_ci"] and row["gap_ci"][1],
            },
            want,
        )
    everyone = (
        await client.get("/api/gaps", params=VIEW | {"department": "shop"}, headers=headers)
    ).json()
    checkout = [r["n_customers"] for r in rows + everyone if r["step"] == "checkout"]
    assert 0 < checkout[0] < checkout[1]


async def test_too_few_raters_hide_every_employee_value(round_id, admin_key, client, tmp_path):
    """Four raters on order-delivered: nothing derived from their ratings shows anywhere."""
    headers = {"authorization": f"Bearer {admin_key}"}
    rows = (
        await client.get("/api/gaps", params=VIEW | {"department": "logistics"}, headers=headers)
    ).json()
    by_step = {r["step"]: r for r in rows}
    hidden = by_step["order-delivered"]
    assert hidden["suppression"] == "too_few_raters"
    assert "fewer than 5" in hidden["suppressed_reason"]
    # Complementary suppression: the other rated step of the department is hidden too.
    assert by_step["return-item"]["suppression"] == "complementary"
    for row in (hidden, by_step["return-item"]):
        for name in (
            "employee_score",
            "n_employees",
            "gap",
            "gap_ci",
            "pvalue",
            "qvalue",
            "relative_effect",
            "cliffs_delta",
            "magnitude",
        ):
            assert row[name] is None, name
        assert row["customer_score"] is not None  # the customer side stays visible

    # The four raters' mean is 1.25 on 1–5: 6.25 points. Hunt for it and their distribution.
    view = await department_view(
        "logistics", parse_filters(VIEW, today=TODAY), threshold=5, comment_threshold=10
    )
    for cell in view.cells:
        assert cell.employee_shares is None and cell.needed is None
    assert view.points == []
    bodies = {
        "json": json.dumps(rows),
        "csv": (await client.get("/api/gaps.csv", params=VIEW, headers=headers)).text,
    }
    parquet = await client.get("/api/gaps.parquet", params=VIEW, headers=headers)
    frame = pl.read_parquet(io.BytesIO(parquet.content))
    logistics = frame.filter(pl.col("department") == "logistics")
    assert logistics["employee_score"].null_count() == logistics.height
    assert logistics["n_employees"].null_count() == logistics.height
    for name, body in bodies.items():
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", body)]
        assert all(n != pytest.approx(6.25) for n in numbers), name


async def test_threshold_three_shows_the_four_raters(round_id, admin_key, client):
    """The same data with the threshold at 3 does show them: the test above can fail."""
    catalog_filters = parse_filters(VIEW | {"department": "logistics"}, today=TODAY)
    table = await gap_rows(catalog_filters, threshold=3)
    row = table.filter(pl.col("step") == "order-delivered").row(0, named=True)
    assert row["employee_score"] == pytest.approx(6.25)
    assert row["n_employees"] == 4


async def test_overview_headline_and_rows(round_id):
    view, _ = await overview(parse_filters(VIEW, today=TODAY), threshold=5)
    assert view.headline is not None
    keys = [r.department for r in view.departments]
    gaps = [r.gap for r in view.departments if r.gap is not None]
    assert gaps == sorted(gaps, reverse=True)
    assert {"shop", "support", "sales", "logistics"} <= set(keys)
    # Logistics is shown as a department (9 distinct raters), but both its cells are hidden
    # (4 raters, and return-item complementary), and a pooled score never includes a hidden
    # cell: it has no employee score, and the headline leaves its ratings out.
    logistics = next(r for r in view.departments if r.department == "logistics")
    assert logistics.raters == 9 and logistics.employee_score is None
    marketing = next(r for r in view.departments if r.department == "marketing")
    assert marketing.suppression == "no_employee_ratings"
    # n_employees counts raters, not ratings: employees 1…n of each department rate its
    # steps, so a department's raters are its longest list of scores.
    raters: dict[str, int] = {}
    for (department, _, _), scores in EMPLOYEE_SCORES.items():
        if department != "logistics":
            raters[department] = max(raters.get(department, 0), len(scores))
    assert view.headline.n_employees == sum(raters.values())
    shop = next(r for r in view.departments if r.department == "shop")
    assert shop.n_employees == 8 and shop.method == "rater bootstrap"
    assert view.headline.verdict in ("clear", "not yet clear", "indicative")
    assert all(r.verdict is None for r in view.departments if r.gap is None)


async def test_compare_with_previous_period(round_id):
    filters = parse_filters(
        {"from": "2026-11-06", "to": TODAY.isoformat(), "compare": "previous"}, today=TODAY
    )
    assert filters.compare == (date(2026, 10, 22), date(2026, 11, 5))
    view = await department_view("shop", filters, threshold=5, comment_threshold=10)
    checkout = next(c for c in view.cells if c.step == "checkout")
    assert checkout.change is not None
    assert checkout.change.difference == pytest.approx(checkout.gap - checkout.change.before)


async def test_trend_has_theil_sen_slope_per_week(round_id):
    filters = parse_filters(VIEW | {"period": "week"}, today=TODAY)
    filters = replace(filters, now=datetime(2026, 11, 20, 12, tzinfo=UTC))
    view = await department_view("shop", filters, threshold=5, comment_threshold=10)
    checkout = next(c for c in view.cells if c.step == "checkout")
    points = [p for p in view.points if p.step == "checkout"]
    # No week uses a round that ended after it: the round ended on 1 November, so the weeks
    # before that week have no gap (they used to borrow the round from their future).
    assert [p.period_start for p in points] == [
        period.start for period in view.periods if period.end >= ROUND_END
    ]
    assert {p.round_id for p in points} == {round_id}
    # The week of 20 November is still running: marked partial and left out of the trend.
    assert [p.partial for p in points] == [False] * (len(points) - 1) + [True]
    assert checkout.slope.n_periods == len(points) - 1
    assert checkout.slope.slope is None and "fewer than 4" in checkout.slope.reason


async def test_employee_comments_only_from_the_comment_threshold(round_id):
    filters = parse_filters(VIEW, today=TODAY)
    sales = await department_view("sales", filters, threshold=5, comment_threshold=10)
    entry = next(e for e in sales.employee_comments if e.step == "get-advice")
    assert entry.reason is None and entry.comments == sorted(
        f"Sales comment {i}" for i in range(12)
    )
    stricter = await department_view("sales", filters, threshold=5, comment_threshold=13)
    entry = next(e for e in stricter.employee_comments if e.step == "get-advice")
    assert entry.comments == [] and "13" in entry.reason


async def test_employees_see_only_their_department_and_anonymous_must_log_in(
    round_id, client, admin_key
):
    await create_user(
        email="emp@example.com",
        name="Emp",
        roles=["employee"],
        password=PASSWORD,
        department_key="shop",
    )
    anonymous = await client.get("/api/gaps")
    assert anonymous.status_code == 401
    page = await client.get("/dashboards", headers={"accept": "text/html"})
    assert page.status_code in (302, 303, 307) and "/login" in page.headers["location"]
    await login(client, "emp@example.com", PASSWORD)
    # An employee sees their own department's results, and nothing of another's.
    overview = await client.get("/dashboards", params=VIEW)
    assert overview.status_code == 302
    assert overview.headers["location"].startswith("/dashboards/shop?")
    assert (await client.get("/dashboards/shop", params=VIEW)).status_code == 200
    for url in (
        "/dashboards/logistics",
        "/api/responses.csv",
        "/api/responses.parquet",
    ):
        assert (await client.get(url)).status_code == 403, url
    refused = await client.get("/api/gaps", params=VIEW | {"department": "logistics"})
    assert refused.status_code == 403
    rows = (await client.get("/api/gaps", params=VIEW)).json()
    assert rows and {r["department"] for r in rows} == {"shop"}
    departments = (await client.get("/api/gaps", params=VIEW | {"level": "department"})).json()
    assert [r["department"] for r in departments] == ["shop"]
    items = (await client.get("/api/focus", params=VIEW)).json()
    assert {i["department"] for i in items} <= {"shop"}


async def test_executive_session_reads_pages_and_api(round_id, client):
    await create_user(email="exec@example.com", name="Exec", roles=["executive"], password=PASSWORD)
    await login(client, "exec@example.com", PASSWORD)
    for url in ("/dashboards", "/dashboards/shop", "/api/gaps", "/api/gaps.parquet"):
        assert (await client.get(url, params=VIEW)).status_code == 200, url
    missing = await client.get("/dashboards/nowhere")
    assert missing.status_code == 404


async def test_bad_filters_are_refused_naming_the_parameter(round_id, client, admin_key):
    headers = {"authorization": f"Bearer {admin_key}"}
    for params, field in (
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-11-10", "to": "2026-11-01"}, "from"),
        ({"compare": "last-year"}, "compare"),
        ({"period": "decade"}, "period"),
    ):
        answer = await client.get("/api/gaps", params=params, headers=headers)
        assert answer.status_code == 400 and answer.json()["field"] == field, params


async def test_round_before_the_view_is_used_and_flagged(round_id):
    later = TODAY - timedelta(days=5)
    filters = parse_filters({"from": later.isoformat(), "to": TODAY.isoformat()}, today=TODAY)
    view = await department_view("shop", filters, threshold=5, comment_threshold=10)
    assert view.round is not None and view.round.ends == ROUND_END
    assert view.round_before_view is True


def test_scenario_cells_are_rating_cells():
    assert set(CUSTOMER_CELLS) == set(EMPLOYEE_SCORES)
