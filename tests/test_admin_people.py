"""The console's people section through HTTP: users and roles, API keys shown once and revoked,
the employees CSV import with its preview and per-row errors; each change audited."""

from __future__ import annotations

import html
import re

import httpx
from trigger_org import load_org

from listening.apikeys import identify
from surveys.tables import AuditEntry, Message, User

HTML = {"accept": "text/html"}
CSV = "email,name,department\nada@corp.example,Ada,support\nbob@corp.example,Bob,support\n"


def csrf(client: httpx.AsyncClient) -> str:
    return client.cookies.get("lp_csrf")


async def post(client, path: str, data: dict, **kwargs) -> httpx.Response:
    return await client.post(path, data={"_csrf_token": csrf(client), **data}, **kwargs)


def error_of(page: str, field: str) -> str:
    return html.unescape(re.search(rf'id="{field}-error">([^<]*)<', page)[1])


async def audit_entries() -> list[tuple[str, str, str]]:
    rows = await AuditEntry.select().order_by(AuditEntry.id)
    return [(r["kind"], r["action"], r["subject"]) for r in rows]


async def test_users_created_and_changed_with_errors_beside_the_field(admin_client):
    await load_org()
    page = await admin_client.get("/admin/people", headers=HTML)
    assert page.status_code == 200 and "admin@example.com" in page.text
    no_dept = await post(
        admin_client,
        "/admin/people/users",
        {"email": "eve@corp.example", "name": "Eve", "roles": "employee"},
    )
    assert no_dept.status_code == 422
    assert error_of(no_dept.text, "department") == "an employee needs a department"
    assert 'value="eve@corp.example"' in no_dept.text and 'value="Eve"' in no_dept.text
    no_role = await post(
        admin_client, "/admin/people/users", {"email": "eve@corp.example", "name": "Eve"}
    )
    assert error_of(no_role.text, "roles") == "at least one role is required"
    made = await post(
        admin_client,
        "/admin/people/users",
        {"email": "eve@corp.example", "name": "Eve", "roles": "employee", "department": "support"},
    )
    assert made.status_code == 303
    assert await Message.count() == 1  # her set-password link
    eve = await User.select().where(User.email == "eve@corp.example").first()
    changed = await admin_client.post(
        f"/admin/people/users/{eve['id']}",
        data={
            "_csrf_token": csrf(admin_client),
            "roles": ["employee", "executive"],
            "department": "support",
        },
    )
    assert changed.status_code == 303
    eve = await User.select().where(User.email == "eve@corp.example").first()
    assert eve["roles"] == "employee,executive"
    refused = await post(admin_client, f"/admin/people/users/{eve['id']}", {"roles": "employee"})
    assert refused.status_code == 422 and "an employee needs a department" in refused.text
    assert await audit_entries() == [
        ("user", "create", "eve@corp.example"),
        ("user", "update", "eve@corp.example"),
    ]


async def test_api_key_shown_once_then_revoked(admin_client):
    bad = await post(admin_client, "/admin/people/keys", {"key_name": "", "scope": "ingest"})
    assert bad.status_code == 422 and error_of(bad.text, "key_name") == "a name is required"
    wrong_scope = await post(admin_client, "/admin/people/keys", {"key_name": "x", "scope": "god"})
    assert wrong_scope.status_code == 422 and "scope must be one of" in wrong_scope.text
    made = await post(admin_client, "/admin/people/keys", {"key_name": "crm", "scope": "ingest"})
    assert made.status_code == 200
    key = re.search(r'id="new-key">.*?<pre class="json">([^<]+)</pre>', made.text, re.S)[1]
    identity = await identify(key)
    assert identity is not None and identity.scope == "ingest"
    page = await admin_client.get("/admin/people", headers=HTML)
    assert key not in page.text and key[:10] in page.text  # shown once, then only its prefix
    revoked = await post(admin_client, f"/admin/people/keys/{identity.id}/revoke", {})
    assert revoked.status_code == 303
    assert await identify(key) is None
    missing = await post(admin_client, "/admin/people/keys/9999/revoke", {})
    assert missing.status_code == 404
    assert await audit_entries() == [
        ("api_key", "create", "crm"),
        ("api_key", "revoke", str(identity.id)),
    ]
    assert key not in str(await AuditEntry.select())


async def test_csv_import_previews_refuses_rows_then_imports(admin_client):
    await load_org()
    bad_header = await post(admin_client, "/admin/people/import", {"csv": "mail,name\nx,y\n"})
    assert bad_header.status_code == 422
    assert error_of(bad_header.text, "csv").startswith("The first line must be email,name,dep")
    rows = CSV + "not-an-email,Cy,support\nada@corp.example,Ada2,support\ndee@corp.example,Dee,\n"
    refused = await post(admin_client, "/admin/people/import", {"csv": rows})
    assert refused.status_code == 422
    table = re.search(r'<table id="preview">(.*?)</table>', refused.text, re.S)[1]
    assert "not an email address" in table
    assert "this email is on an earlier line" in table
    assert "a department is required" in table
    assert 'name="confirm"' not in refused.text
    forced = await post(admin_client, "/admin/people/import", {"csv": rows, "confirm": "yes"})
    assert forced.status_code == 422 and await User.count() == 1  # only the admin
    preview = await post(admin_client, "/admin/people/import", {"csv": CSV})
    assert preview.status_code == 200 and 'name="confirm"' in preview.text
    assert await User.count() == 1
    uploaded = await admin_client.post(
        "/admin/people/import",
        data={"_csrf_token": csrf(admin_client), "confirm": "yes"},
        files={"file": ("people.csv", CSV.encode(), "text/csv")},
    )
    assert uploaded.status_code == 303
    users = await User.select().where(User.email.like("%@corp.example")).order_by(User.email)
    assert [(u["email"], u["roles"]) for u in users] == [
        ("ada@corp.example", "employee"),
        ("bob@corp.example", "employee"),
    ]
    assert (await audit_entries())[-1] == ("user", "import", "2 employees")
