"""Every kind of configuration change, through every door that makes it (console pages, the
JSON admin API, a customer's own link, a password link), lands in the audit log with its actor,
kind, before and after; responses and ratings never do. The command line's door is in
test_audit_log.py (it runs the CLI in its own process)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from conftest import PASSWORD
from survey_data import make_invitation
from test_admin_editors import CSAT, survey_form
from trigger_org import JOURNEY, load_org

from listening.tables import ApiKey
from surveys import audit
from surveys.accounts import create_user, issue_password_link
from surveys.tables import AuditEntry, Customer, User

HTML = {"accept": "text/html"}
LATER = datetime(2100, 1, 1, tzinfo=UTC)
SECRET_ANSWER = "the-comment-nobody-may-read"


async def form(client: httpx.AsyncClient, path: str, data: dict) -> httpx.Response:
    """A console form post with the session's CSRF token."""
    answer = await client.post(path, data={"_csrf_token": client.cookies.get("lp_csrf"), **data})
    assert answer.status_code in (200, 303), (path, answer.status_code, answer.text[:500])
    return answer


async def log() -> list[dict]:
    rows = await AuditEntry.select().order_by(AuditEntry.id).output(load_json=True)
    return list(rows)


def kinds(entries: list[dict]) -> list[tuple[str, str, str]]:
    return [(e["actor"], e["kind"], e["action"]) for e in entries]


async def test_every_console_section_records_its_changes(admin_client, settings):
    await load_org()
    await admin_client.get("/admin", headers=HTML)
    admin = "admin@example.com"
    await form(admin_client, "/admin/journey/departments", {"key": "ops", "name": "Ops"})
    await form(
        admin_client,
        "/admin/journey/steps",
        {"key": "pay", "name": "Pay", "journey": "get-help", "department": "ops"},
    )
    await form(
        admin_client,
        "/admin/surveys/pay",
        survey_form([CSAT], name="Paying"),
    )
    await form(
        admin_client,
        "/admin/triggers",
        {
            "key": "phone",
            "event_type": "ticket.closed",
            "step": "ticket-resolved",
            "channel": "email",
            "sample_percent": "50",
            "delay": "2h",
            "expires_after": "7d",
            "max_event_age": "7d",
            "filters": "",
            "active": "on",
        },
    )
    await form(
        admin_client,
        "/admin/configuration/import",
        {"toml": JOURNEY.replace("Customer Support", "Support desk")},
    )
    await form(
        admin_client,
        "/admin/messages",
        {"locale": "en", "name": "Acme", "accent_colour": "#0b5cad", "subject": "Hi %(step)s"},
    )
    await form(
        admin_client,
        "/admin/messages/survey",
        {"locale": "en", "survey": "ticket-resolved", "survey_subject": "Quick: %(step)s"},
    )
    await form(
        admin_client,
        "/admin/people/users",
        {"email": "eve@corp.example", "name": "Eve", "roles": "employee", "department": "support"},
    )
    eve = await User.select().where(User.email == "eve@corp.example").first()
    await admin_client.post(
        f"/admin/people/users/{eve['id']}",
        data={
            "_csrf_token": admin_client.cookies.get("lp_csrf"),
            "roles": ["employee", "executive"],
            "department": "ops",
        },
    )
    await form(admin_client, "/admin/people/keys", {"key_name": "crm", "scope": "ingest"})
    key_id = (await ApiKey.select(ApiKey.id).where(ApiKey.name == "crm").first())["id"]
    await form(admin_client, f"/admin/people/keys/{key_id}/revoke", {})
    now = datetime.now(UTC)
    await form(
        admin_client,
        "/admin/rounds",
        {
            "name": "Spring",
            "starts_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
            "departments": "support",
        },
    )
    await form(admin_client, "/admin/privacy/suppressions", {"email": "Bob@Example.com"})
    await form(admin_client, "/admin/privacy/suppressions/remove", {"email": "bob@example.com"})
    await make_invitation(settings.secret_key, customer="c-9", expires_at=LATER)
    await form(admin_client, "/admin/privacy/opt-outs", {"customer": "c-9"})
    await form(admin_client, "/admin/privacy/erase", {"customer": "c-9", "confirm": "c-9"})

    entries = await log()
    assert [k for k in kinds(entries)] == [
        (admin, "department", "create"),
        (admin, "step", "create"),
        (admin, "survey", "create"),
        (admin, "trigger", "create"),
        (admin, "configuration", "load"),
        (admin, "organisation", "update"),
        (admin, "survey", "update"),
        (admin, "user", "create"),
        (admin, "user", "update"),
        (admin, "api_key", "create"),
        (admin, "api_key", "revoke"),
        (admin, "round", "create"),
        (admin, "suppression", "add"),
        (admin, "suppression", "remove"),
        (admin, "opt_out", "add"),
        (admin, "erasure", "erase"),
    ]
    by_kind = {(e["kind"], e["action"]): e for e in entries}
    organisation = by_kind["organisation", "update"]
    assert (
        organisation["before"] if False else organisation["before_state"]["accent_colour"] is None
    )
    assert organisation["after_state"]["accent_colour"] == "#0b5cad"
    survey = by_kind["survey", "update"]
    assert survey["before_state"]["email"] == {}
    assert survey["after_state"]["email"] == {"en": {"subject": "Quick: %(step)s"}}
    user = by_kind["user", "update"]
    assert user["before_state"] != user["after_state"]
    assert "executive" in json.dumps(user["after_state"])
    assert "executive" not in json.dumps(user["before_state"])
    # The customer's opt-out was erased with them: the log keeps that it happened, not who.
    opt_out = by_kind["opt_out", "add"]
    assert opt_out["subject"] == audit.FORGOTTEN and opt_out["after_state"] is None
    assert by_kind["erasure", "erase"]["subject"] == audit.person_ref("c-9", settings.secret_key)
    assert "c-9" not in json.dumps(entries, default=str)


async def test_the_json_api_records_its_changes(admin_client, settings):
    await load_org()
    admin = "admin@example.com"
    assert (await admin_client.patch("/api/organisation", json={"name": "Acme"})).status_code == 200
    changed = await admin_client.patch(
        "/api/surveys/ticket-resolved", json={"email": {"de": {"subject": "Kurz: %(step)s"}}}
    )
    assert changed.status_code == 200, changed.text
    made = await admin_client.post(
        "/api/triggers",
        json={"key": "t1", "event_type": "ticket.closed", "step": "ticket-resolved"},
    )
    assert made.status_code == 201, made.text
    await Customer.insert(Customer(external_id="c-7", email="seven@example.com", created_at=LATER))
    assert (await admin_client.delete("/api/customers/c-7")).status_code == 200
    now = datetime.now(UTC)
    spring = await admin_client.post(
        "/api/rounds",
        json={
            "name": "Spring",
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=7)).isoformat(),
            "departments": ["support"],
        },
    )
    assert spring.status_code == 201, spring.text
    await create_user(
        email="new@corp.example", name="New", roles=["employee"], department_key="support"
    )
    joined = await admin_client.post(f"/api/rounds/{spring.json()['id']}/invitations")
    assert joined.json() == {"invited": 1}
    entries = await log()
    assert kinds(entries) == [
        (admin, "organisation", "update"),
        (admin, "survey", "update"),
        (admin, "trigger", "create"),
        (admin, "erasure", "erase"),
        (admin, "round", "create"),
        (admin, "round", "invite"),
    ]
    assert entries[-1]["after_state"] == {"invited": 1}
    assert "new@corp.example" not in json.dumps(entries, default=str)
    assert entries[1]["after_state"]["email"] == {"de": {"subject": "Kurz: %(step)s"}}
    api = (await admin_client.get("/api/audit", params={"kind": "survey"})).json()
    assert api[0]["before"]["email"] == {} and api[0]["actor"] == admin
    assert set(api[0]) == {"id", "at", "actor", "kind", "action", "subject", "before", "after"}


async def test_a_customers_own_opt_out_is_recorded_by_hash_and_answers_never_are(client, settings):
    await load_org()
    token, _ = await make_invitation(settings.secret_key, customer="c-3", expires_at=LATER)
    page = await client.get(f"/s/{token}", headers=HTML)
    csrf = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
    sent = await client.post(
        f"/s/{token}", data={"_csrf_token": csrf, "csat": "2", "comment": SECRET_ANSWER}
    )
    assert sent.status_code == 303
    out = await client.post(f"/s/{token}/unsubscribe", headers=HTML)
    assert out.status_code == 200
    again = await client.post(f"/s/{token}/unsubscribe", headers=HTML)  # once in the log
    assert again.status_code == 200
    (entry,) = await log()
    ref = audit.person_ref("c-3", settings.secret_key)
    assert (entry["actor"], entry["kind"], entry["action"]) == (audit.CUSTOMER, "opt_out", "add")
    assert entry["subject"] == ref and entry["person"] == ref
    assert entry["before_state"] == {"opted_out_at": None}
    assert entry["after_state"]["opted_out_at"] is not None
    stored = json.dumps(entry, default=str)
    assert "c-3" not in stored and SECRET_ANSWER not in stored and '"score"' not in stored


async def test_password_set_reset_and_change_are_recorded_without_the_password(
    admin_client, client
):
    account = await create_user(
        email="sam@example.com", name="Sam", roles=["executive"], password=None
    )
    for purpose in ("set", "reset"):
        token = await issue_password_link(account.id, purpose)
        await admin_client.get(f"/password/set/{token}", headers=HTML)
        chose = await admin_client.post(
            f"/password/set/{token}",
            data={
                "_csrf_token": admin_client.cookies.get("lp_csrf"),
                "password": f"a long {purpose} password",
                "confirm": f"a long {purpose} password",
            },
            headers=HTML,
        )
        assert chose.status_code == 303, chose.text
    changed = await admin_client.post(
        "/api/password",
        json={"current_password": PASSWORD, "new_password": "another long password"},
    )
    assert changed.status_code == 204, changed.text
    entries = await log()
    assert kinds(entries) == [
        ("sam@example.com", "user", "set password"),
        ("sam@example.com", "user", "reset password"),
        ("admin@example.com", "user", "change password"),
    ]
    assert entries[2]["before_state"]["password_changed_at"] is None
    assert entries[2]["after_state"]["password_changed_at"] is not None
    text = json.dumps(entries, default=str)
    assert "long" not in text and "argon2" not in text and "hash" not in text


async def test_follow_ups_changed_through_any_door_are_recorded_without_the_answer(
    admin_client, settings
):
    import survey_data
    from test_admin_follow_ups import low_score

    await survey_data.load_org()
    comment = {"csat": 1, "comment": SECRET_ANSWER}
    on_console = await low_score(settings, "ticket-resolved", comment, "c1")
    on_api = await low_score(settings, "ticket-resolved", comment, "c2")
    on_page = await low_score(settings, "ticket-resolved", comment, "c3")
    await form(
        admin_client,
        f"/admin/follow-ups/{on_console}",
        {"status": "in_progress", "assignee": "", "department_filter": ""},
    )
    api = await admin_client.patch(f"/api/follow-ups/{on_api}", json={"status": "in_progress"})
    assert api.status_code == 200, api.text
    await admin_client.get("/follow-ups", headers=HTML)
    await form(
        admin_client, f"/follow-ups/{on_page}", {"status": "closed", "note": "Called them back"}
    )
    entries = await log()
    assert [(e["kind"], e["subject"]) for e in entries] == [
        ("follow_up", str(on_console)),
        ("follow_up", str(on_api)),
        ("follow_up", str(on_page)),
    ]
    assert {e["actor"] for e in entries} == {"admin@example.com"}
    assert [e["before_state"]["status"] for e in entries] == ["open"] * 3
    assert [e["after_state"]["status"] for e in entries] == ["in_progress", "in_progress", "closed"]
    assert entries[2]["after_state"]["note"] == "Called them back"
    assert entries[1]["person"] == audit.person_ref("c2", settings.secret_key)
    assert SECRET_ANSWER not in json.dumps(entries, default=str)
