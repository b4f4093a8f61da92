"""The console's report download through HTTP: HTML and PDF files for a period and department,
and the form's errors beside the field with the values kept."""

from __future__ import annotations

import html
import re

from trigger_org import load_org

HTML = {"accept": "text/html"}


def error_of(page: str, field: str) -> str:
    return html.unescape(re.search(rf'id="{field}-error">([^<]*)<', page)[1])


async def test_report_form_and_html_download(admin_client):
    await load_org()
    page = await admin_client.get("/admin/report", headers=HTML)
    assert page.status_code == 200 and 'action="/admin/report/download"' in page.text
    r = await admin_client.get(
        "/admin/report/download?from=2026-01-01&to=2026-03-31&department=support&format=html"
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert (
        r.headers["content-disposition"]
        == 'attachment; filename="listening-report-support-2026-03-31.html"'
    )
    assert "<html" in r.text and "Customer Support" in r.text


async def test_report_errors_are_shown_beside_the_field(admin_client):
    await load_org()
    r = await admin_client.get("/admin/report/download?from=1900-01-01&to=2026-01-01")
    assert r.status_code == 400
    assert error_of(r.text, "from").startswith("from must lie between")
    assert 'value="1900-01-01"' in r.text and 'value="2026-01-01"' in r.text
    r = await admin_client.get("/admin/report/download?department=nowhere")
    assert r.status_code == 400 and error_of(r.text, "department") == "no department 'nowhere'"
    r = await admin_client.get("/admin/report/download?format=docx")
    assert r.status_code == 400 and error_of(r.text, "format") == "Choose HTML or PDF."


async def test_report_as_pdf(admin_client):
    await load_org()
    r = await admin_client.get("/admin/report/download?format=pdf")
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
