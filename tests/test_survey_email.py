"""A survey's own invitation email: loaded from the journey file and exported, kept across
survey versions, edited in the console with a preview, and sent through a real SMTP server."""

from __future__ import annotations

import html
import re

import pytest
from receivers import SmtpServer
from test_delivery import EMAIL_TRIGGER, ingest, parts, with_smtp
from trigger_org import JOURNEY, FakeClock, event

from listening.admin.configuration import export_toml
from listening.journeys import load_journey_file
from listening.worker import run_once
from surveys import catalog
from surveys.errors import Invalid
from surveys.tables import Answer, AuditEntry, Question, Response, Survey

BASE = "http://feedback.test"
HTML = {"accept": "text/html"}
EMAIL = """
    [journeys.steps.email.de]
    subject = "Ihre Meinung zu: %(step)s"
    answer = "Hier antworten: %(url)s"

    [journeys.steps.email.en]
    subject = "A minute for %(step)s?"
    opening = "You just had %(step)s. Tell us how it went."
"""


def with_email(journey: str = JOURNEY, email: str = EMAIL) -> str:
    """The journey with `email` under its first step (after that step's questions)."""
    marker = '  [[journeys.steps]]\n  key = "order-delivered"'
    return journey.replace(marker, email + "\n" + marker)


@pytest.fixture
def settings(settings):
    import dataclasses

    return dataclasses.replace(settings, base_url=None)


async def test_the_journey_file_loads_and_exports_a_surveys_email(db):
    summary = await load_journey_file(with_email() + EMAIL_TRIGGER)
    assert summary.changed
    survey = await catalog.get_survey("ticket-resolved")
    assert survey.email == {
        "de": {"subject": "Ihre Meinung zu: %(step)s", "answer": "Hier antworten: %(url)s"},
        "en": {
            "subject": "A minute for %(step)s?",
            "opening": "You just had %(step)s. Tell us how it went.",
        },
    }
    assert (await catalog.get_survey("order-delivered")).email == {}
    text = await export_toml()
    assert "[journeys.steps.email.de]" in text
    again = await load_journey_file(text)
    assert not again.changed, text
    # The file is the whole truth: without the table the survey keeps the organisation's.
    cleared = await load_journey_file(JOURNEY + EMAIL_TRIGGER)
    assert cleared.updated == {"surveys": 1}
    assert (await catalog.get_survey("ticket-resolved")).email == {}


@pytest.mark.parametrize(
    ("email", "field", "message"),
    [
        ('[journeys.steps.email.de]\n    title = "x"', "email.de.title", "not a sentence"),
        ('[journeys.steps.email.de]\n    subject = "100% %(step)s"', "email.de.subject", "%%"),
        ('[journeys.steps.email.de]\n    answer = "Antworten"', "email.de.answer", "%(url)s"),
        ('[journeys.steps.email."<b>"]\n    subject = "x"', "email.<b>", "language tag"),
        ("[journeys.steps.email]\n    de = 3", "email.de", "table of subject"),
    ],
)
async def test_a_bad_email_table_names_its_key_and_writes_nothing(db, email, field, message):
    with pytest.raises(Invalid) as refused:
        await load_journey_file(with_email(email=f"\n    {email}\n"))
    assert refused.value.field == f"journeys[0].steps[0].{field}"
    assert message in refused.value.message
    assert await Survey.count() == 0


async def test_an_email_change_keeps_the_version_and_a_new_version_keeps_the_email(db):
    await load_journey_file(with_email())
    survey = await Survey.select().first()
    question = await Question.select().where(Question.survey == survey["id"]).first()
    response = await Response.insert(
        Response(
            survey=survey["id"],
            step=survey["step"],
            source="unsolicited",
            submitted_at=survey["created_at"],
        )
    ).returning(Response.id)
    await Answer.insert(Answer(response=response[0]["id"], question=question["id"], score=4))
    # Only the email's words change: what is asked stays, so does the version.
    reworded = with_email(email=EMAIL.replace("A minute for", "Two minutes for"))
    summary = await load_journey_file(reworded)
    assert summary.new_survey_versions == [] and summary.updated == {"surveys": 1}
    assert (await catalog.get_survey("ticket-resolved")).email["en"]["subject"].startswith("Two")
    # A changed question on the answered survey: version 2, and it carries the email on.
    asked = reworded.replace("How satisfied are you with how we", "How happy are you with how we")
    summary = await load_journey_file(
        asked.replace(EMAIL.replace("A minute for", "Two minutes for"), "")
    )
    assert summary.new_survey_versions == ["ticket-resolved v2"]
    v2 = await catalog.get_survey("ticket-resolved")
    assert v2.version == 2 and v2.email == {}  # the file said: no email of its own
    await load_journey_file(asked)
    assert (await catalog.get_survey("ticket-resolved")).version == 2
    assert (await catalog.get_survey("ticket-resolved", 1)).email["en"]["subject"].startswith("Two")


async def test_the_smtp_server_receives_the_surveys_own_subject_in_the_customers_language(
    settings,
):
    await load_journey_file(
        with_email()
        + EMAIL_TRIGGER
        + """
[[triggers]]
key = "delivered"
event_type = "order.delivered"
step = "order-delivered"
channel = "email"
"""
    )
    clock = FakeClock()
    await ingest(
        settings,
        clock,
        event(1, email="ann@example.com"),
        event(2, email="bert@example.com", locale="de-CH"),
        event(3, email="cleo@example.com", type="order.delivered"),
    )
    with SmtpServer() as smtp:
        stats = await run_once(with_smtp(settings, smtp.port), base_url=BASE, clock=clock)
        assert stats.sent == 3
        by_address = {str(m["To"]): m for m in smtp.inbox.messages}
    english = by_address["ann@example.com"]
    assert english["Subject"] == "A minute for Your request is resolved?"
    text, _ = parts(english)
    assert "You just had Your request is resolved. Tell us how it went." in text
    assert "Answer the survey: " in text  # not rewritten in English: the catalogue's
    german = by_address["bert@example.com"]
    assert german["Subject"] == "Ihre Meinung zu: Your request is resolved"
    text, _ = parts(german)
    assert "Hier antworten: http://feedback.test/s/" in text
    # Another survey, no sentences of its own: the catalogue's subject.
    other = by_address["cleo@example.com"]
    assert other["Subject"] == "How was it: Your order arrives?"


def error_of(page: str, field: str) -> str:
    return html.unescape(re.search(rf'id="{field}-error">([^<]*)<', page)[1])


def preview_subject(page: str) -> str:
    return html.unescape(re.search(r'id="preview-subject">([^<]*)<', page)[1])


async def test_the_console_edits_a_surveys_email_with_a_preview_and_an_audit_entry(
    admin_client, settings
):
    await load_journey_file(JOURNEY)
    await admin_client.get("/admin/messages", headers=HTML)
    csrf = admin_client.cookies.get("lp_csrf")
    page = await admin_client.get("/admin/messages?locale=de&survey=ticket-resolved", headers=HTML)
    assert page.status_code == 200
    assert 'id="survey-email"' in page.text
    assert preview_subject(page.text) == "Wie war es: Your request is resolved?"
    saved = await admin_client.post(
        "/admin/messages/survey",
        data={
            "_csrf_token": csrf,
            "locale": "de",
            "survey": "ticket-resolved",
            "survey_subject": "Kurz gefragt: %(step)s",
            "survey_opening": "",
            "survey_answer": "",
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/admin/messages?locale=de&survey=ticket-resolved&saved=1"
    page = await admin_client.get(saved.headers["location"], headers=HTML)
    assert preview_subject(page.text) == "Kurz gefragt: Your request is resolved"
    assert 'value="Kurz gefragt: %(step)s"' in page.text
    # The organisation-wide preview and the other survey keep the shipped subject.
    every = await admin_client.get("/admin/messages?locale=de", headers=HTML)
    assert preview_subject(every.text) == "Wie war es: Your request is resolved?"
    (entry,) = await AuditEntry.select().where(AuditEntry.kind == "survey").output(load_json=True)
    assert entry["actor"] == "admin@example.com" and entry["subject"] == "ticket-resolved"
    assert entry["before_state"]["email"] == {}
    assert entry["after_state"]["email"] == {"de": {"subject": "Kurz gefragt: %(step)s"}}
    assert entry["after_state"]["version"] == entry["before_state"]["version"]

    bad = await admin_client.post(
        "/admin/messages/survey",
        data={
            "_csrf_token": csrf,
            "locale": "de",
            "survey": "ticket-resolved",
            "survey_subject": "100% %(step)s",
            "survey_opening": "Hallo %(name)s",
            "survey_answer": "Antworten",
        },
        headers=HTML,
    )
    assert bad.status_code == 422
    assert error_of(bad.text, "survey_subject").startswith("Write % as %%")
    assert "%(step)s" in error_of(bad.text, "survey_opening")
    assert error_of(bad.text, "survey_answer") == "Keep %(url)s: it is where the link goes."
    assert 'value="100% %(step)s"' in bad.text  # kept
    assert await AuditEntry.count() == 1
    assert (await admin_client.delete("/api/surveys/order-delivered")).status_code == 200
    retired = await admin_client.post(
        "/admin/messages/survey",
        data={
            "_csrf_token": csrf,
            "locale": "en",
            "survey": "order-delivered",
            "survey_subject": "x",
        },
        headers=HTML,
    )
    assert retired.status_code == 404  # not brought back as a new version by an email edit
    assert not (await catalog.get_survey("order-delivered")).active
    unknown = await admin_client.get("/admin/messages?survey=nowhere", headers=HTML)
    assert unknown.status_code == 404
    assert error_of(unknown.text, "survey") == "That step has no survey: choose another."


async def test_the_api_sets_a_surveys_email_checked_as_the_file_is(admin_client):
    await load_journey_file(JOURNEY)
    ok = await admin_client.patch(
        "/api/surveys/ticket-resolved",
        json={"email": {"fr": {"subject": "Votre avis sur %(step)s"}}},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["email"] == {"fr": {"subject": "Votre avis sur %(step)s"}}
    bad = await admin_client.patch(
        "/api/surveys/ticket-resolved", json={"email": {"fr": {"answer": "Répondez ici"}}}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "email.fr.answer"
    typo = await admin_client.patch(
        "/api/surveys/ticket-resolved", json={"email": {"fr": {"subjet": "x"}}}
    )
    assert typo.status_code == 400 and "subjet" in typo.text
