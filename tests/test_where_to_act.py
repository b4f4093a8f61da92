"""Where to act, department results as JSON, one navigation per role, and pages (not JSON)
for people: the focus list, /api/gaps?level=department, error pages with a way back."""

from __future__ import annotations

import json
import re
from dataclasses import fields, replace

import pytest
from conftest import PASSWORD, login
from dashboard_data import TODAY, scenario

from dashboards import focus
from dashboards.audience import OWN_TEAM
from dashboards.rows import CellRow, Trend
from surveys.accounts import create_user

VIEW = {"from": "2026-10-01", "to": TODAY.isoformat()}
HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
ITEM_FIELDS = {
    "department",
    "step",
    "question",
    "gap",
    "gap_ci",
    "verdict",
    "n_customers",
    "open_follow_ups",
    "comments",
    "next_step",
}


def row(gap, n, q, *, step="s", slope=None, verdict=None):
    """A cell row of a gap, its customers and q-value (every other figure empty)."""
    empty = {f.name: None for f in fields(CellRow)}
    return CellRow(
        **empty
        | {
            "department": "d",
            "step": step,
            "question": "q",
            "gap": gap,
            "customer_score": 60.0,
            "n_customers": n,
            "qvalue": q,
            "suppressed": False,
            "verdict": verdict,
            "slope": slope,
        }
    )


def trend(slope, pvalue):
    """A trend of this slope and p-value (no family formed: no q-value)."""
    return Trend(
        n_periods=6,
        slope=slope,
        slope_low=None,
        slope_high=None,
        intercept=None,
        kendall_tau=None,
        pvalue=pvalue,
        reason=None,
        n_blocks=1,
    )


def test_rank_puts_clear_gaps_first_then_weight_and_leaves_out_hidden_and_negative():
    rows = [
        row(30.0, 40, 0.2, step="big-unclear"),
        row(10.0, 400, 0.01, step="clear-small"),
        row(20.0, 400, 0.01, step="clear-large"),
        row(None, 400, None, step="hidden"),
        row(-15.0, 400, 0.001, step="customers-happier"),
        row(25.0, 100, 0.01, step="clear-fewer"),  # 25·10 = 250 < 20·20 = 400
    ]
    ranked = [r.step for r in focus.rank(rows)]
    assert ranked == ["clear-large", "clear-fewer", "clear-small", "big-unclear"]
    # A widening trend breaks a tie of the same weight.
    widening = trend(2.0, 0.01)
    tied = [row(10.0, 100, 0.01, step="a"), row(10.0, 100, 0.01, step="b", slope=widening)]
    assert [r.step for r in focus.rank(tied)] == ["b", "a"]
    # The statistics' own verdict wins over the q-value when they give one.
    assert focus.verdict_of(row(10.0, 100, 0.001, verdict="indicative")) == "indicative"
    assert focus.verdict_of(row(10.0, 100, 0.001)) == focus.CLEAR


def test_next_step_is_one_plain_sentence():
    text = focus.next_step(
        department_name="Logistics",
        step_name="delivery updates",
        customer_score=58.2,
        employee_score=86.4,
        verdict="clear",
        trend=None,
        open_follow_ups=41,
        comments_count=12,
    )
    assert text == (
        "Logistics: delivery updates — customers 58, employees 86; "
        "41 open follow-ups to answer; read the 12 customer comments."
    )
    own = focus.next_step(
        department_name="Logistics",
        step_name="delivery updates",
        customer_score=58.2,
        employee_score=86.4,
        verdict="clear",
        trend=None,
        open_follow_ups=0,
        comments_count=0,
        team=OWN_TEAM,
    )
    assert own.startswith("Logistics: delivery updates — customers 58, your team 86; ")
    unclear = focus.next_step(
        department_name="Shop",
        step_name="resolved",
        customer_score=70,
        employee_score=78,
        verdict="not yet clear",
        trend=None,
        open_follow_ups=1,
        comments_count=0,
    )
    assert "1 open follow-up to answer" in unclear and "not yet clear" in unclear


@pytest.fixture
async def org(db):
    await scenario()
    for email, roles, department in (
        ("exec@example.com", ["executive"], None),
        ("emp@example.com", ["employee"], "shop"),
    ):
        await create_user(
            email=email, name=email, roles=roles, password=PASSWORD, department_key=department
        )


async def test_focus_api_items_match_the_gap_table(org, admin_client):
    items = (await admin_client.get("/api/focus", params=VIEW)).json()
    assert items, "the scenario has positive gaps"
    cells = {
        (r["department"], r["step"], r["question"]): r
        for r in (await admin_client.get("/api/gaps", params=VIEW)).json()
    }
    for index, item in enumerate(items, start=1):
        assert set(item) >= ITEM_FIELDS
        assert item["rank"] == index
        cell = cells[(item["department"], item["step"], item["question"])]
        assert item["gap"] == pytest.approx(cell["gap"]) and item["gap"] > 0
        assert item["gap_ci"] == pytest.approx(cell["gap_ci"])
        assert cell["suppression"] is None  # never a hidden cell
        assert item["n_customers"] == cell["n_customers"]
        assert len(item["comments"]["shown"]) <= min(3, item["comments"]["count"])
        assert item["next_step"].startswith(f"{item['department_name']}: ")
    verdicts = [i["verdict"] == "clear" for i in items]
    assert verdicts == sorted(verdicts, reverse=True)
    # A hidden department gives no item.
    departments = await admin_client.get("/api/gaps", params=VIEW | {"level": "department"})
    hidden = {r["department"] for r in departments.json() if r["employee_score"] is None}
    assert hidden and not hidden & {i["department"] for i in items}
    # One department's items only, on request.
    shop = (await admin_client.get("/api/focus", params=VIEW | {"department": "shop"})).json()
    assert {i["department"] for i in shop} <= {"shop"}


async def test_focus_counts_comments_and_open_follow_ups(org, admin_client):
    from datetime import UTC, datetime

    from dashboard_data import add_responses, question_id

    from surveys.tables import FollowUp, Step

    ids = await add_responses("ticket-resolved", "csat", [1, 1], TODAY, texts={"comment": "Slow"})
    step_id, _, csat = await question_id("ticket-resolved", "csat")
    step = await Step.select(Step.department).where(Step.id == step_id).first()
    now = datetime.now(UTC)
    for response, status in zip(ids, ("open", "closed"), strict=True):
        await FollowUp.insert(
            FollowUp(
                response=response,
                step=step_id,
                department=step["department"],
                question=csat,
                score=1,
                status=status,
                created_at=now,
                updated_at=now,
            )
        )
    items = (await admin_client.get("/api/focus", params=VIEW)).json()
    resolved = next((i for i in items if i["step"] == "ticket-resolved"), None)
    assert resolved is not None, [i["step"] for i in items]
    assert resolved["comments"]["count"] == 2
    assert resolved["comments"]["shown"] == ["Slow", "Slow"]
    assert resolved["open_follow_ups"] == 1  # the closed one does not count
    assert "1 open follow-up to answer; read the 2 customer comments" in resolved["next_step"]


async def test_department_level_rows_carry_the_fields_of_a_cell_row(org, admin_client):
    cells = (await admin_client.get("/api/gaps", params=VIEW)).json()
    departments = await admin_client.get("/api/gaps", params=VIEW | {"level": "department"})
    assert departments.status_code == 200
    rows = departments.json()
    assert len(rows) == len({c["department"] for c in cells}) == 5
    assert set(rows[0]) == set(cells[0]) - {"step", "question", "journey", "kind"}
    hidden = [r for r in rows if r["suppression"] is not None]
    assert hidden and all(r["gap"] is None and r["employee_score"] is None for r in hidden)
    bad = await admin_client.get("/api/gaps", params={"level": "team"})
    assert bad.status_code == 422 and bad.json()["field"] == "level"


async def test_pages_show_where_to_act_at_the_top(org, admin_client):
    page = await admin_client.get("/dashboards", params=VIEW, headers=HTML)
    html = page.text
    assert html.index('id="where-to-act"') < html.index('id="departments"')
    items = (await admin_client.get("/api/focus", params=VIEW)).json()
    shown = re.findall(r'class="focus-item" data-department="([\w-]+)" data-step="([\w-]+)"', html)
    assert shown == [(i["department"], i["step"]) for i in items]
    shop = await admin_client.get("/dashboards/shop", params=VIEW, headers=HTML)
    assert shop.text.index('id="where-to-act"') < shop.text.index('id="journey-map"')
    steps = re.findall(r'class="focus-item" data-department="([\w-]+)"', shop.text)
    assert set(steps) <= {"shop"}


async def test_employee_reads_own_department_only(org, client):
    await login(client, "emp@example.com", PASSWORD)
    own = await client.get("/dashboards/shop", params=VIEW, headers=HTML)
    assert own.status_code == 200
    assert 'id="read-only-note"' in own.text
    # Read-only: the only form that changes anything is "Log out".
    assert re.findall(r'<form method="post" action="([^"]+)"', own.text) == ["/logout"]
    assert 'aria-label="Departments"' not in own.text  # no links to other departments
    other = await client.get("/dashboards/logistics", params=VIEW, headers=HTML)
    assert other.status_code == 403
    assert "text/html" in other.headers["content-type"]
    report = await client.get("/report", params=VIEW)
    assert report.status_code == 200 and "Online Shop" in report.text
    assert (await client.get("/report", params={"department": "logistics"})).status_code == 403


def _figure_names(html: str) -> set[str]:
    """The trace names of a page's plotly figures."""
    names = set()
    for raw in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S):
        figure = json.loads(raw)
        names |= {t.get("name") for t in figure.get("data", []) if t.get("name")}
    return names


async def test_pages_name_the_raters_for_their_reader(org, client):
    """An employee reads "your team" about their own department; an executive "employees"."""
    await login(client, "exec@example.com", PASSWORD)
    for path in ("/dashboards", "/dashboards/shop", "/report"):
        page = await client.get(path, params=VIEW, headers=HTML)
        assert page.status_code == 200, path
        assert "your team" not in page.text.lower(), path
        assert ">Employees</th>" in page.text, path
        assert not re.search(r"\d+ team\b", page.text), path  # counts read "N raters"
    shop = (await client.get("/dashboards/shop", params=VIEW, headers=HTML)).text
    assert "Comments from employees" in shop
    assert {"Employees (gap shaded)", "Gap (employees − customers)"} <= _figure_names(shop)
    assert "Only steps employees rate higher than customers do" in shop
    items = (await client.get("/api/focus", params=VIEW)).json()
    assert items and all(", employees " in i["next_step"] for i in items)
    client.cookies.clear()  # a new session, as another person
    client.headers.pop("x-csrftoken", None)

    await login(client, "emp@example.com", PASSWORD)
    own = (await client.get("/dashboards/shop", params=VIEW, headers=HTML)).text
    assert ">Your team</th>" in own and ">Employees</th>" not in own
    assert {"Your team (gap shaded)", "Gap (your team − customers)"} <= _figure_names(own)
    assert "Only steps your team rates higher than customers do" in own
    assert "Comments from your team" in own
    assert re.search(r"Your team rates these steps \d+/100", own)
    items = (await client.get("/api/focus", params=VIEW)).json()
    assert items and all(", your team " in i["next_step"] for i in items)
    report = (await client.get("/report", params=VIEW)).text
    assert ">Your team</th>" in report and "gap = your team − customers" in report


NAV_LINKS = {
    "admin@example.com": ["Dashboards", "Where to act", "Follow-ups", "Rounds", "Admin", "Report"],
    "exec@example.com": ["Dashboards", "Where to act", "Follow-ups", "Report"],
    "emp@example.com": ["Our results", "Where to act", "Follow-ups", "Rate my steps", "Report"],
}


@pytest.mark.parametrize("email", list(NAV_LINKS))
async def test_one_navigation_shows_what_the_role_may_open(org, client, admin_user, email):
    await login(client, email, PASSWORD)
    for path in ("/follow-ups", "/dashboards/shop", "/rounds"):
        page = await client.get(path, headers=HTML)
        nav = re.search(r'<nav class="top site-nav"[^>]*>(.*?)</nav>', page.text, re.S)
        assert nav, path
        links = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav.group(1))
        assert [text for _, text in links] == NAV_LINKS[email], path
        assert "Log out" in nav.group(1)
    for href, _ in links:
        opened = await client.get(href.split("#")[0], headers=HTML)
        assert opened.status_code in (200, 302), href


async def test_filter_errors_keep_the_form_and_a_way_back(org, admin_client):
    page = await admin_client.get(
        "/dashboards/shop", params={"from": "2026-12-01", "to": "2026-01-01"}, headers=HTML
    )
    assert page.status_code == 400  # a filter the view cannot use is a bad request
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="f-from-error"' in page.text and "from must not be after to" in page.text
    assert 'value="2026-12-01"' in page.text and 'value="2026-01-01"' in page.text
    assert 'action="/dashboards/shop"' in page.text
    assert re.search(r'<a href="/dashboards/shop" id="filter-reset">', page.text)
    journey = await admin_client.get("/dashboards", params={"journey": "nope"}, headers=HTML)
    assert journey.status_code == 422 and 'id="f-journey-error"' in journey.text
    # API clients keep JSON naming the field.
    api = await admin_client.get("/api/gaps", params={"from": "2026-12-01", "to": "2026-01-01"})
    assert api.status_code == 400 and api.json()["field"] == "from"


async def test_a_wrong_password_shows_the_login_page(org, client):
    await client.get("/login")
    response = await client.post(
        "/login",
        data={"email": "exec@example.com", "password": "wrong", "next": "/"},
        headers=HTML | {"x-csrftoken": client.cookies.get("lp_csrf")},
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="login-error"' in response.text and 'value="exec@example.com"' in response.text


async def test_refusals_read_for_people_with_a_way_back(org, client):
    await login(client, "exec@example.com", PASSWORD)
    page = await client.get("/rounds", headers=HTML | {"referer": "http://testserver.local/"})
    assert page.status_code == 403
    assert "Your account cannot open this page." in page.text
    assert 'class="back"' in page.text
    assert "role" not in re.search(r'<p role="alert">([^<]*)</p>', page.text).group(1)


async def test_round_times_are_typed_in_the_organisations_time_zone(org, admin_client):
    from surveys.organisation import apply_organisation, check_organisation

    spec = check_organisation({"organisation": {"name": "Shop", "time_zone": "Europe/Zurich"}})
    await apply_organisation(spec, {})
    page = await admin_client.get("/rounds", headers=HTML)
    assert "Starts (Europe/Zurich time)" in page.text
    assert re.search(
        r'id="starts_at" name="starts_at" required value="\d{4}-\d\d-\d\dT09:00"', page.text
    )
    form = {
        "_csrf_token": admin_client.cookies.get("lp_csrf"),
        "name": "Spring",
        "starts_at": "2030-03-10T09:00",
        "ends_at": "2030-03-20T17:30",
        "departments": ["shop"],
    }
    response = await admin_client.post("/rounds", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    created = (await admin_client.get("/api/rounds")).json()[0]
    # Winter time in Zurich is UTC+1: 09:00 there is 08:00 UTC.
    assert created["starts_at"].startswith("2030-03-10T08:00:00")
    assert created["ends_at"].startswith("2030-03-20T16:30:00")
    listed = await admin_client.get("/rounds", headers=HTML)
    assert "10 Mar 2030, 09:00 (Europe/Zurich)" in listed.text


def test_a_trend_is_called_by_its_q_value_and_closes_toward_no_gap():
    from dashboards.focus import trend_words
    from dashboards.pages import trend_text

    # Significant alone (p) but not among the view's trend tests (q): no trend is called.
    lone = replace(trend(2.0, 0.01), qvalue=0.2)
    assert trend_words(lone, 10.0) == "steady"
    assert trend_text(lone, 10.0, "week") == "no clear trend"
    clear = replace(trend(2.0, 0.001), qvalue=0.01)
    # Rising moves a positive gap away from zero and a negative one toward it.
    assert trend_words(clear, 10.0) == "widening"
    assert trend_words(clear, -10.0) == "closing"
    assert trend_text(replace(clear, slope=-1.26), 10.0, "week") == (
        "closing by about 1.3 points a week"
    )
    too_few = replace(trend(None, None), reason="too few weeks")
    assert trend_words(too_few, 5.0) is None
    assert trend_text(too_few, 5.0, "week") == "too few weeks"
