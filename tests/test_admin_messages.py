"""The console's messages through HTTP: the organisation's name and logo, the invitation
email's sentences per language with a preview, errors beside the field, the audit entry."""

from __future__ import annotations

import html
import re

import httpx
from trigger_org import load_org

from surveys.tables import AuditEntry

HTML = {"accept": "text/html"}


def csrf(client: httpx.AsyncClient) -> str:
    return client.cookies.get("lp_csrf")


async def post(client, path: str, data: dict) -> httpx.Response:
    return await client.post(path, data={"_csrf_token": csrf(client), **data})


def error_of(page: str, field: str) -> str:
    return html.unescape(re.search(rf'id="{field}-error">([^<]*)<', page)[1])


def preview_subject(page: str) -> str:
    return html.unescape(re.search(r'id="preview-subject">([^<]*)<', page)[1])


async def test_email_sentences_per_language_with_preview(admin_client):
    await load_org()
    page = await admin_client.get("/admin/messages", headers=HTML)
    assert page.status_code == 200
    assert preview_subject(page.text) == "How was it: Your request is resolved?"
    saved = await post(
        admin_client,
        "/admin/messages",
        {
            "locale": "en",
            "name": "Acme",
            "logo": "https://acme.example/logo.png",
            "subject": "Acme wants to know: %(step)s",
            "opening": "",
            "answer": "",
        },
    )
    assert saved.status_code == 303
    page = await admin_client.get("/admin/messages?locale=en", headers=HTML)
    assert preview_subject(page.text) == "Acme wants to know: Your request is resolved"
    text = html.unescape(re.search(r'id="preview-text">(.*?)</pre>', page.text, re.S)[1])
    assert text.startswith("Acme\n")
    german = await admin_client.get("/admin/messages?locale=de", headers=HTML)
    assert "Acme wants to know" not in preview_subject(german.text)  # only English changed
    entry = await AuditEntry.select().where(AuditEntry.subject == "organisation").first()
    assert entry["actor"] == "admin@example.com"


async def test_message_errors_are_shown_beside_the_field(admin_client):
    await load_org()
    bad = await post(
        admin_client,
        "/admin/messages",
        {
            "locale": "en",
            "name": "",
            "logo": "javascript:alert(1)",
            "subject": "100% %(step)s",
            "opening": "",
            "answer": "Go: %(link)s",
        },
    )
    assert bad.status_code == 422
    assert error_of(bad.text, "subject").startswith("Write % as %%")
    assert "%(url)s" in error_of(bad.text, "answer")
    assert error_of(bad.text, "logo").startswith("The logo must be an https:// address")
    assert error_of(bad.text, "name") == "Give the organisation's name."
    assert 'value="100% %(step)s"' in bad.text  # kept
    assert await AuditEntry.count() == 0
    odd = await admin_client.get("/admin/messages?locale=<x>", headers=HTML)
    assert odd.status_code == 400 and "language tag" in odd.text


ORGANISATION_FORM = {
    "locale": "en",
    "name": "Acme",
    "logo": "",
    "subject": "",
    "opening": "",
    "answer": "",
}


async def test_a_colour_set_in_the_console_colours_the_survey_page_and_the_email(
    admin_client, settings
):
    from datetime import UTC, datetime

    from survey_data import make_invitation

    from listening.delivery.email import invitation_message
    from listening.delivery.invitation_mail import invitation_mail
    from listening.security_headers import STRICT_CSP
    from surveys import catalog

    await load_org()
    saved = await post(
        admin_client, "/admin/messages", {**ORGANISATION_FORM, "accent_colour": "#7B2D8E"}
    )
    assert saved.status_code == 303
    assert (await catalog.get_organisation(fresh=True)).accent_colour == "#7b2d8e"
    gone, _ = await make_invitation(settings.secret_key, customer="c-old")
    expired = await admin_client.get(f"/s/{gone}", headers=HTML)  # an error page, coloured too
    assert expired.status_code == 410 and "/organisation.css" in expired.text
    later = datetime(2100, 1, 1, tzinfo=UTC)
    token, _ = await make_invitation(settings.secret_key, expires_at=later)
    survey = await admin_client.get(f"/s/{token}", headers=HTML)
    assert survey.status_code == 200
    assert '<link rel="stylesheet" href="/organisation.css">' in survey.text
    assert survey.headers["content-security-policy"] == STRICT_CSP  # no inline style needed
    css = await admin_client.get("/organisation.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.text == ":root { --accent: #7b2d8e; }\n"
    assert css.headers["cache-control"] == "no-cache, public"
    same = await admin_client.get(
        "/organisation.css", headers={"if-none-match": css.headers["etag"]}
    )
    assert same.status_code == 304 and same.text == ""
    thanks = await admin_client.get(f"/s/{token}/unsubscribe", headers=HTML)
    assert '<link rel="stylesheet" href="/organisation.css">' in thanks.text
    survey_id = await catalog.survey_id("ticket-resolved")
    mail = await invitation_mail(
        survey_id=survey_id,
        locale="en",
        uid="u",
        to="a@example.com",
        name=None,
        step_key="ticket-resolved",
        step_name="Your request is resolved",
        survey_url="https://x.example/s/t",
    )
    message = invitation_message(mail, sender="s@example.com", now=datetime.now(UTC))
    assert "color:#7b2d8e" in message.get_body(("html",)).get_content()
    entry = (
        await AuditEntry.select()
        .where(AuditEntry.subject == "organisation")
        .output(load_json=True)
        .first()
    )
    assert entry["before_state"]["accent_colour"] is None
    assert entry["after_state"]["accent_colour"] == "#7b2d8e"


async def test_a_colour_too_light_for_white_is_refused_beside_the_field(admin_client):
    await load_org()
    page = await admin_client.get("/admin/messages", headers=HTML)
    assert 'id="accent_colour"' in page.text
    light = await post(
        admin_client, "/admin/messages", {**ORGANISATION_FORM, "accent_colour": "#ffcc00"}
    )
    assert light.status_code == 422
    message = error_of(light.text, "accent_colour")
    assert message.startswith("#ffcc00 on white has a contrast of only 1.5:1")
    assert "4.5:1 (WCAG AA)" in message and "darker" in message
    assert 'value="#ffcc00"' in light.text  # kept
    odd = await post(admin_client, "/admin/messages", {**ORGANISATION_FORM, "accent_colour": "red"})
    assert error_of(odd.text, "accent_colour") == "Write the colour as #rrggbb, such as #0b5cad."
    assert await AuditEntry.count() == 0
    # No colour: the stylesheet overrides nothing.
    css = await admin_client.get("/organisation.css")
    assert "--accent" not in css.text


async def test_the_journey_file_checks_loads_and_exports_the_colour(db):
    import pytest
    from trigger_org import JOURNEY

    from listening.admin.configuration import export_toml
    from listening.journeys import load_journey_file
    from surveys.errors import Invalid

    table = '[organisation]\nname = "Acme"\naccent_colour = "{}"\n'
    with pytest.raises(Invalid) as refused:
        await load_journey_file(table.format("#eeeeee") + JOURNEY)
    assert refused.value.field == "organisation.accent_colour"
    assert "contrast of only 1.2:1" in refused.value.message
    summary = await load_journey_file(table.format("#0B5CAD") + JOURNEY)
    assert summary.created["organisation"] == 1
    text = await export_toml()
    assert 'accent_colour = "#0b5cad"' in text
    assert not (await load_journey_file(text)).changed
