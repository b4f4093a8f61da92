"""The journey editor, the survey editor and import / export, through HTTP: each form, its error
path as HTML beside the field with the values kept, the audit entries, and the export → load
round trip."""

from __future__ import annotations

import re

import httpx
from trigger_org import JOURNEY, TRIGGERS, load_org

from listening.admin.configuration import export_toml
from listening.journeys import load_journey_file
from surveys import catalog
from surveys.tables import AuditEntry, Step, Survey
from tests.test_catalog_api import answer_survey

HTML = {"accept": "text/html"}


def csrf(client: httpx.AsyncClient) -> str:
    return client.cookies.get("lp_csrf")


async def post(client, path: str, data: dict, **kwargs) -> httpx.Response:
    return await client.post(path, data={"_csrf_token": csrf(client), **data}, **kwargs)


async def audit_kinds() -> list[tuple[str, str, str]]:
    rows = await AuditEntry.select().order_by(AuditEntry.id)
    return [(r["kind"], r["action"], r["subject"]) for r in rows]


async def test_journey_page_draws_steps_coloured_by_department(admin_client):
    await load_org()
    await admin_client.post("/api/departments", json={"key": "logistics", "name": "Logistics"})
    await admin_client.patch("/api/steps/order-delivered", json={"department": "logistics"})
    page = await admin_client.get("/admin/journey", headers=HTML)
    assert page.status_code == 200
    row = re.search(r'<ol class="journey-row">(.*?)</ol>', page.text, re.S).group(1)
    colours = re.findall(r'<li class="(dept-\d)[^"]*" id="step-([\w-]+)"', row)
    assert [step for _, step in colours] == ["ticket-resolved", "order-delivered"]
    assert colours[0][0] != colours[1][0]


async def test_adding_department_journey_and_step_then_reordering(admin_client):
    await admin_client.get("/admin/journey")
    r = await post(admin_client, "/admin/journey/departments", {"key": "ops", "name": "Ops"})
    assert r.status_code == 303
    r = await post(admin_client, "/admin/journey/journeys", {"key": "buy", "name": "Buy"})
    assert r.status_code == 303
    for key in ("a", "b", "c"):
        r = await post(
            admin_client,
            "/admin/journey/steps",
            {"key": key, "name": key.upper(), "journey": "buy", "department": "ops"},
        )
        assert r.status_code == 303
        assert r.headers["location"] == f"/admin/surveys/{key}?new=1"
    r = await post(admin_client, "/admin/journey/steps/c/move", {"to": "earlier"})
    assert r.status_code == 303
    assert [s.key for s in await catalog.list_steps()] == ["a", "c", "b"]
    r = await post(
        admin_client,
        "/admin/journey/steps/c",
        {"name": "Sea", "journey": "buy", "department": "ops", "moment_of_truth": "on"},
    )
    assert r.status_code == 303  # "active" unticked: deactivated
    step = await catalog.get_step("c")
    assert (step.name, step.moment_of_truth, step.active) == ("Sea", True, False)
    page = await admin_client.get("/admin/journey", headers=HTML)
    assert "Sea" in page.text and "inactive" in page.text
    assert await audit_kinds() == [
        ("department", "create", "ops"),
        ("journey", "create", "buy"),
        ("step", "create", "a"),
        ("step", "create", "b"),
        ("step", "create", "c"),
        ("journey", "reorder steps", "buy"),
        ("step", "update", "c"),
    ]


async def test_journey_forms_show_errors_beside_the_field(admin_client):
    await load_org()
    await admin_client.get("/admin/journey")
    r = await post(
        admin_client, "/admin/journey/departments", {"key": "bad key!", "name": "Kept name"}
    )
    assert r.status_code == 422
    assert 'id="department-key-error"' in r.text and 'value="Kept name"' in r.text
    r = await post(admin_client, "/admin/journey/departments", {"key": "support", "name": "X"})
    assert r.status_code == 409 and 'id="department-key-error"' in r.text
    r = await post(admin_client, "/admin/journey/journeys", {"key": "j", "name": " "})
    assert r.status_code == 422 and 'id="journey-name-error"' in r.text
    r = await post(
        admin_client,
        "/admin/journey/steps",
        {"key": "new", "name": "New", "journey": "get-help", "department": "nope"},
    )
    assert r.status_code == 422
    assert 'id="step-department-error"' in r.text and 'value="New"' in r.text
    r = await post(
        admin_client,
        "/admin/journey/departments/support",
        {"name": "", "follow_up_email": "not an address", "active": "on"},
    )
    assert r.status_code == 422 and 'id="name-error"' in r.text
    r = await post(
        admin_client,
        "/admin/journey/departments/support",
        {"name": "Support", "follow_up_email": "not an address", "active": "on"},
    )
    assert r.status_code == 422 and 'id="follow_up_email-error"' in r.text
    assert 'value="not an address"' in r.text
    r = await admin_client.get("/admin/journey/steps/nope", headers=HTML)
    assert r.status_code == 404
    r = await admin_client.get("/admin/journey/teapots/x", headers=HTML)
    assert r.status_code == 404
    assert await AuditEntry.count() == 0


def survey_form(questions: list[dict], name: str = "Resolved", do: str = "save") -> dict:
    """The editor's fields for these questions (each: key, kind, customer {locale: text}, ...)."""
    data = {"name": name, "count": str(len(questions) + 1), "do": do}
    # The page offers one empty question to add, its language "en" filled in.
    blank = {"key": "", "kind": "csat", "customer": {"en": ""}}
    for n, q in enumerate([*questions, blank]):
        p = f"q{n}."
        pairs = list(q.get("customer", {}).items())
        data[p + "locales"] = str(len(pairs))
        for m, (locale, text) in enumerate(pairs):
            data[f"{p}locale.{m}"] = locale
            data[f"{p}text.{m}"] = text
        for field in ("key", "kind", "employee", "low_label", "high_label", "options"):
            data[p + field] = q.get(field, "")
        data[p + "alert_threshold"] = str(q.get("alert_threshold", ""))
        data[p + "position"] = str(q.get("position", n))
        if q.get("required", True):
            data[p + "required"] = "on"
        if q.get("higher_is_better", True):
            data[p + "higher_is_better"] = "on"
        if q.get("remove"):
            data[p + "remove"] = "on"
    return data


CSAT = {
    "key": "csat",
    "kind": "csat",
    "customer": {"en": "How satisfied are you?", "de": "Wie zufrieden sind Sie?"},
    "employee": "How satisfied are customers?",
    "alert_threshold": 2,
}
COMMENT = {
    "key": "comment",
    "kind": "text",
    "customer": {"en": "Anything else?"},
    "required": False,
}


async def test_survey_editor_creates_previews_and_versions(admin_client):
    await load_org(triggers="")
    await admin_client.post(
        "/api/steps",
        json={"key": "pay", "name": "Pay", "journey": "get-help", "department": "support"},
    )
    page = await admin_client.get("/admin/surveys/pay", headers=HTML)
    assert page.status_code == 200 and "No survey yet" in page.text

    preview = await post(
        admin_client, "/admin/surveys/pay", survey_form([CSAT, COMMENT], do="preview"), headers=HTML
    )
    assert preview.status_code == 200
    assert preview.headers["content-type"].startswith("text/html")
    assert "The customer's page" in preview.text and "The employee's page" in preview.text
    assert "How satisfied are customers?" in preview.text
    assert "Very dissatisfied" in preview.text
    assert await Survey.count().where(Survey.step.key == "pay") == 0  # a preview stores nothing
    german = await post(
        admin_client,
        "/admin/surveys/pay",
        survey_form([CSAT], do="preview") | {"preview_locale": "de"},
    )
    assert "Wie zufrieden sind Sie?" in german.text

    r = await post(admin_client, "/admin/surveys/pay", survey_form([CSAT, COMMENT]))
    assert r.status_code == 303 and r.headers["location"] == "/admin/surveys/pay?saved=1"
    survey = await catalog.get_survey("pay")
    assert [q.key for q in survey.questions] == ["csat", "comment"]
    assert survey.questions[0].customer == CSAT["customer"]
    assert survey.questions[0].alert_threshold == 2

    # Reordered without answers: the same version, edited in place.
    moved = survey_form([CSAT | {"position": 5}, COMMENT])
    assert (await post(admin_client, "/admin/surveys/pay", moved)).status_code == 303
    survey = await catalog.get_survey("pay")
    assert survey.version == 1 and [q.key for q in survey.questions] == ["comment", "csat"]

    # Once answered, the editor warns before saving, and a changed wording makes version 2.
    await answer_survey("pay")
    page = await admin_client.get("/admin/surveys/pay", headers=HTML)
    assert "already has answers" in page.text and "version 2" in page.text
    changed = CSAT | {"employee": "How satisfied are our customers, honestly?"}
    preview = await post(
        admin_client, "/admin/surveys/pay", survey_form([COMMENT, changed], do="preview")
    )
    assert "Saving this will create version 2" in preview.text
    r = await post(admin_client, "/admin/surveys/pay", survey_form([COMMENT, changed]))
    assert r.headers["location"] == "/admin/surveys/pay?saved=2"
    versions = await catalog.list_survey_versions("pay")
    assert [(v.version, v.active) for v in versions] == [(1, False), (2, True)]
    # The alert threshold alone keeps the version.
    r = await post(
        admin_client, "/admin/surveys/pay", survey_form([COMMENT, changed | {"alert_threshold": 3}])
    )
    assert r.headers["location"] == "/admin/surveys/pay?saved=2"

    actions = [a for k, a, s in await audit_kinds() if k == "survey"]
    assert actions == ["create", "update", "new version", "update"]
    listing = await admin_client.get("/admin/surveys", headers=HTML)
    assert "version 2" in listing.text


async def test_survey_editor_errors_sit_beside_the_question(admin_client):
    await load_org(triggers="")
    await admin_client.get("/admin/surveys/ticket-resolved")
    no_mirror = CSAT | {"employee": ""}
    r = await post(
        admin_client,
        "/admin/surveys/ticket-resolved",
        survey_form([COMMENT, no_mirror]),
        headers=HTML,
    )
    assert r.status_code == 422
    assert 'id="questions-1-employee-error"' in r.text
    assert "Wie zufrieden sind Sie?" in r.text  # what was typed is kept
    bad_threshold = CSAT | {"alert_threshold": "low"}
    r = await post(
        admin_client, "/admin/surveys/ticket-resolved", survey_form([bad_threshold]), headers=HTML
    )
    assert r.status_code == 422 and 'id="questions-0-alert_threshold-error"' in r.text
    choice = {"key": "why", "kind": "choice", "customer": {"en": "Why?"}}
    r = await post(
        admin_client, "/admin/surveys/ticket-resolved", survey_form([choice]), headers=HTML
    )
    assert r.status_code == 422 and 'id="questions-0-options-error"' in r.text
    r = await post(
        admin_client,
        "/admin/surveys/ticket-resolved",
        survey_form([CSAT | {"remove": True}]),
        headers=HTML,
    )
    assert r.status_code == 422 and 'id="questions-error"' in r.text
    r = await post(
        admin_client, "/admin/surveys/ticket-resolved", survey_form([CSAT], name=""), headers=HTML
    )
    assert r.status_code == 422 and 'id="name-error"' in r.text
    assert await AuditEntry.count() == 0


ORGANISATION = """
[organisation]
name = "Acme"
time_zone = "Europe/Berlin"
default_locale = "en"

[organisation.wording.de]
"Send" = "Abschicken"
"""
NAMED_STEP = """
  [[journeys.steps]]
  key = "returned"
  name = { en = "You return an item", de = "Sie senden etwas zurück" }
  department = "support"

    [[journeys.steps.questions]]
    key = "ease"
    kind = "ces"
    customer = "How easy was returning it?"
    employee = "How easy do customers find returning items?"
    low_label = "Hard"
"""


async def test_export_then_load_changes_nothing(admin_client):
    await load_journey_file(ORGANISATION + JOURNEY + NAMED_STEP + TRIGGERS)
    # Console-made changes of every kind the file holds.
    await admin_client.get("/admin/journey")
    await post(admin_client, "/admin/journey/departments", {"key": "ops", "name": "Ops"})
    await post(
        admin_client,
        "/admin/journey/steps",
        {"key": "pay", "name": "Pay", "journey": "get-help", "department": "ops"},
    )
    await post(admin_client, "/admin/surveys/pay", survey_form([CSAT, COMMENT], name="Paying"))
    await post(admin_client, "/admin/journey/steps/pay/move", {"to": "earlier"})
    await admin_client.post(
        "/api/triggers",
        json={
            "key": "pay-mail",
            "event_type": "payment.done",
            "step": "pay",
            "channel": "email",
            "sample_percent": 12.5,
            "delay_seconds": 5400,
            "quarantine_seconds": 0,
            "reminder_after_seconds": 86400,
            "filters": {"channel": {"not": ["shop"]}},
        },
    )
    await admin_client.delete("/api/triggers/ticket-link")
    await post(
        admin_client,
        "/admin/messages/survey",
        {"locale": "de", "survey": "pay", "survey_subject": "Bezahlt: %(step)s"},
    )
    organisation = await admin_client.get("/admin/messages?locale=de")
    assert organisation.status_code == 200
    await post(
        admin_client,
        "/admin/messages",
        {"locale": "fr", "name": "Acme", "accent_colour": "#7b2d8e", "subject": "Avis: %(step)s"},
    )

    text = await export_toml()
    summary = await load_journey_file(text)
    assert not summary.changed, (summary, text)
    assert summary.new_survey_versions == []
    assert 'quarantine = "30d"' in text and "pay-mail" in text
    assert 'name = "Acme"' in text and "Sie senden etwas zurück" in text
    assert 'subject = "Bezahlt: %(step)s"' in text and 'accent_colour = "#7b2d8e"' in text
    assert '"Avis: %(step)s"' in text

    download = await admin_client.get("/admin/configuration/export")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="journey.toml"'
    assert download.text == text


async def test_import_page_loads_and_shows_errors(admin_client):
    await admin_client.get("/admin/configuration")
    r = await post(admin_client, "/admin/configuration/import", {"toml": JOURNEY}, headers=HTML)
    assert r.status_code == 200
    assert "created: 1 departments, 1 journeys, 2 steps, 2 surveys" in r.text
    assert await Step.count() == 2
    (entry,) = await audit_kinds()
    assert entry == ("configuration", "load", "journey file")
    again = await post(admin_client, "/admin/configuration/import", {"toml": JOURNEY})
    assert "Nothing to change" in again.text
    assert await AuditEntry.count() == 1

    broken = JOURNEY.replace('department = "support"', 'department = "nobody"', 1)
    r = await post(admin_client, "/admin/configuration/import", {"toml": broken}, headers=HTML)
    assert r.status_code == 422
    assert 'id="toml-error"' in r.text and "nobody" in r.text
    assert "department = &#34;nobody&#34;" in r.text  # the text is kept
    r = await post(admin_client, "/admin/configuration/import", {"toml": "[[x"}, headers=HTML)
    assert r.status_code == 422 and "TOML syntax error" in r.text
    r = await post(admin_client, "/admin/configuration/import", {"toml": ""}, headers=HTML)
    assert r.status_code == 422 and "Choose a journey file" in r.text
    r = await admin_client.post(
        "/admin/configuration/import",
        data={"_csrf_token": csrf(admin_client)},
        files={"file": ("journey.toml", b"\xff\xfe", "text/plain")},
        headers=HTML,
    )
    assert r.status_code == 422 and 'id="file-error"' in r.text
    r = await admin_client.post(
        "/admin/configuration/import",
        data={"_csrf_token": csrf(admin_client)},
        files={"file": ("journey.toml", JOURNEY.encode(), "text/plain")},
    )
    assert "Nothing to change" in r.text
