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
