"""Injection: SQL, HTML/JS and spreadsheet-formula payloads in every free-text field.

The payloads go into the journey file (department, journey and step names, question wordings,
choice options and end labels), event attributes, customer names, survey comments (token API
and form), feedback posts and employee comments. They must be stored verbatim, shown escaped on
every page (survey and feedback pages, also when a form is shown again with its errors, the
follow-ups page, the rating page, the dashboards and the standalone HTML report) and in the
emails, and neutralised in the CSV exports.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import tomli_w
from conftest import login
from example_org import LINK_TRIGGER, PASSWORD, link_event, load_example_org, token_of
from markupsafe import escape

from dashboards.filters import parse_filters
from dashboards.report import build_report, render_html
from listening.tables import Event
from surveys.accounts import create_user
from surveys.rounds import create_round
from surveys.self_ratings import submit as submit_self_rating
from surveys.tables import Answer, Customer, Department, Journey, Message, Question, Step

SQL = "'; DROP TABLE customer; --"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\t=1", "\r=1"]
HTML = [SCRIPT, IMG]
PAYLOADS = [SQL, *HTML, *FORMULAS]


def _journey() -> str:
    """The organisation as a TOML file whose every free-text string is a payload."""
    doc = {
        "departments": [
            {"key": "support", "name": SCRIPT},
            {"key": "sales", "name": IMG},
        ],
        "journeys": [
            {
                "key": "get-help",
                "name": SQL,
                "steps": [
                    {
                        "key": "ticket-resolved",
                        "name": IMG,
                        "department": "support",
                        "questions": [
                            {
                                "key": "csat",
                                "kind": "csat",
                                "customer": {"en": f"{SCRIPT} satisfied?", "de": IMG},
                                "employee": f"{IMG} customers satisfied?",
                                "low_label": SCRIPT,
                                "high_label": IMG,
                            },
                            {
                                "key": "channel",
                                "kind": "choice",
                                "required": False,
                                "customer": f"{SQL} channel?",
                                "options": FORMULAS[:4],
                            },
                            {
                                "key": "comment",
                                "kind": "text",
                                "required": False,
                                "customer": f"{SCRIPT} comment",
                            },
                        ],
                    },
                    {
                        "key": "offer",
                        "name": SCRIPT,
                        "department": "sales",
                        "questions": [
                            {"key": "nps", "kind": "nps", "customer": SQL, "employee": SQL}
                        ],
                    },
                ],
            }
        ],
    }
    return tomli_w.dumps(doc)


def _no_raw_html(where: str, text: str) -> None:
    for payload in HTML:
        assert payload not in text, f"{where} shows {payload!r} unescaped"


def _shows(where: str, text: str, payload: str) -> None:
    assert str(escape(payload)) in text, f"{where} does not show {payload!r} (escaped)"


def _csv_rows(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body, newline="")))


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _neutralised(where: str, rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                assert _is_number(cell), f"{where}: {cell!r} would run as a formula"


@pytest.fixture
async def org(db, client, settings):
    """The payload organisation with invited and unsolicited responses and employee ratings."""
    org = await load_example_org(journey_text=_journey(), extra=LINK_TRIGGER)
    auth = {"Authorization": f"Bearer {org.admin_key}"}
    tokens = []
    for n, payload in enumerate(PAYLOADS):
        event = link_event(
            f"inj-{n}", f"cust-{n}", attributes={"note": payload, "tier": FORMULAS[n % 6]}
        )
        event["customer"]["name"] = payload
        sent = await client.post("/api/events", json=event, headers=auth)
        assert sent.status_code == 202, sent.text
        tokens.append(token_of(sent.json()))
    fresh = tokens.pop()  # one survey left open for its page
    for n, token in enumerate(tokens):
        answers = {"csat": 1, "channel": FORMULAS[n % 4], "comment": PAYLOADS[n]}
        stored = await client.post(f"/api/responses/{token}", json={"answers": answers})
        assert stored.status_code == 201, stored.text
    # The last payload through the survey form rather than the API.
    page = await client.get(f"/s/{fresh}")
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    form = {"csat": "2", "comment": PAYLOADS[-1], "_csrf_token": csrf}
    other = link_event("inj-form", "cust-form")
    open_token = token_of((await client.post("/api/events", json=other, headers=auth)).json())
    sent = await client.post(f"/s/{fresh}", data=form, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    for payload in PAYLOADS:
        page = await client.get("/f/ticket-resolved")
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
        posted = await client.post(
            "/f/ticket-resolved", data={"csat": "1", "comment": payload, "_csrf_token": csrf}
        )
        assert posted.status_code == 200, posted.text
    # Ten employees rate their step in an open round, so their comments may be shown.
    now = datetime.now(UTC)
    await create_round(
        name=SCRIPT,
        starts_at=(now - timedelta(minutes=1)).isoformat(),
        ends_at=(now + timedelta(days=7)).isoformat(),
        departments=["support"],
        base_url="http://testserver.local",
    )
    support = await Department.select(Department.id).where(Department.key == "support").first()
    employees = []
    for n in range(settings.comment_threshold):
        account = await create_user(
            email=f"rater{n}@example.com",
            name=PAYLOADS[n % len(PAYLOADS)],
            roles=["employee"],
            password=PASSWORD,
            department_key="support",
        )
        employees.append(account)
        await submit_self_rating(
            employee_id=account.id,
            department_id=support["id"],
            step_key="ticket-resolved",
            answers={"csat": 4},
            comment=PAYLOADS[n % len(PAYLOADS)],
        )
    return {"open_token": open_token, "employee": employees[0].email}


async def test_payloads_are_stored_verbatim(org):
    assert sorted(
        r["name"] for r in await Customer.select(Customer.name).where(Customer.name.is_not_null())
    ) == sorted(PAYLOADS)
    texts = [r["text"] for r in await Answer.select(Answer.text).where(Answer.text.is_not_null())]
    assert sorted(set(texts)) == sorted(PAYLOADS)
    events = await Event.select(Event.attributes).output(load_json=True)
    assert {e["attributes"]["note"] for e in events if e["attributes"]} == set(PAYLOADS)
    assert {r["name"] for r in await Department.select(Department.name)} == set(HTML)
    assert (await Journey.select(Journey.name).first())["name"] == SQL
    assert {r["name"] for r in await Step.select(Step.name)} == set(HTML)
    csat = await Question.select().where(Question.key == "csat").output(load_json=True).first()
    assert (csat["low_label"], csat["high_label"]) == (SCRIPT, IMG)
    assert await Customer.count() > 0  # the SQL payload dropped nothing


async def test_every_page_and_email_shows_payloads_escaped(org, client):
    pages = {}
    # Customers: the survey page, shown again with its errors, and the feedback form.
    token = org["open_token"]
    pages["survey page"] = (await client.get(f"/s/{token}")).text
    pages["survey page (German)"] = (
        await client.get(f"/s/{token}", headers={"accept-language": "de"})
    ).text
    csrf = client.cookies.get("lp_csrf")
    again = await client.post(
        f"/s/{token}", data={"csat": "9", "comment": SCRIPT + IMG, "_csrf_token": csrf}
    )
    assert again.status_code == 422
    pages["survey page with errors"] = again.text
    pages["feedback page"] = (await client.get("/f/ticket-resolved")).text
    refused = await client.post(
        "/f/ticket-resolved", data={"csat": "9", "comment": IMG + SCRIPT, "_csrf_token": csrf}
    )
    pages["feedback page with errors"] = refused.text
    # Staff: follow-ups (admin), rating page (employee), dashboards (executive).
    await login(client, "admin@example.com", PASSWORD)
    pages["follow-ups page"] = (await client.get("/follow-ups")).text
    await client.post("/logout")
    await login(client, org["employee"], PASSWORD)
    pages["rating page"] = (await client.get("/rate")).text
    await client.post("/logout")
    await login(client, "exec@example.com", PASSWORD)
    pages["dashboards"] = (await client.get("/dashboards")).text
    pages["support dashboard"] = (await client.get("/dashboards/support")).text
    pages["sales dashboard"] = (await client.get("/dashboards/sales")).text
    filters = parse_filters({}, today=date.today())
    for department in (None, "support"):
        report = await build_report(
            filters, department=department, threshold=5, comment_threshold=10
        )
        pages[f"report ({department or 'overview'})"] = render_html(report)
    for where, text in pages.items():
        _no_raw_html(where, text)
    for where in ("survey page", "survey page with errors", "feedback page"):
        _shows(where, pages[where], IMG)  # the step name
        _shows(where, pages[where], f"{SCRIPT} satisfied?")  # the question
        _shows(where, pages[where], SCRIPT)  # an end label
    _shows("survey page (German)", pages["survey page (German)"], IMG)
    _shows("survey page with errors", pages["survey page with errors"], SCRIPT + IMG)
    _shows("feedback page with errors", pages["feedback page with errors"], IMG + SCRIPT)
    for payload in HTML:
        _shows("follow-ups page", pages["follow-ups page"], payload)  # comments, names
        _shows("rating page", pages["rating page"], payload)  # step, wording, own comment
        _shows("support dashboard", pages["support dashboard"], payload)  # comments
        _shows("report (support)", pages["report (support)"], payload)
    _shows("dashboards", pages["dashboards"], SCRIPT)  # a department name
    _shows("report (overview)", pages["report (overview)"], SCRIPT)
    # Emails: follow-up notices and round invitations carry names and comments.
    messages = await Message.select(Message.body_html, Message.subject)
    assert messages
    for message in messages:
        _no_raw_html("an email", message["body_html"] or "")


async def test_csv_exports_neutralise_formulas(org, client):
    await login(client, "exec@example.com", PASSWORD)
    responses = await client.get("/api/responses.csv")
    gaps = await client.get("/api/gaps.csv")
    assert responses.status_code == gaps.status_code == 200
    response_rows = _csv_rows(responses.text)
    gap_rows = _csv_rows(gaps.text)
    assert len(gap_rows) > 1
    _neutralised("responses.csv", response_rows)
    _neutralised("gaps.csv", gap_rows)
    cells = {cell for row in response_rows for cell in row}
    # Comments, chosen options and segments (event attributes) are all there, each defused.
    for payload in FORMULAS:
        assert "'" + payload in cells, f"responses.csv lacks {payload!r} neutralised"
    assert SQL in cells and SCRIPT in cells and IMG in cells  # other text stays verbatim
