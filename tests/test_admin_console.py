"""The admin console through HTTP: who gets in, the navigation, the audit log, triggers and the
dry run (page, API and the customer's history), each form's error path as HTML."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from trigger_org import load_org

from surveys.accounts import create_user
from surveys.tables import AuditEntry, Customer, Suppression
from tests.conftest import PASSWORD, login

HTML = {"accept": "text/html"}


def csrf(client: httpx.AsyncClient) -> str:
    return client.cookies.get("lp_csrf")


def event(**changes) -> dict:
    now = datetime.now(UTC)
    base = {
        "id": "evt-1",
        "type": "ticket.closed",
        "occurred_at": (now - timedelta(minutes=5)).isoformat(),
        "customer": {"id": "cust-1", "email": "cust@example.com"},
        "attributes": {"channel": "phone"},
    }
    return {**base, **changes}


async def test_console_is_for_admins_only(client, db):
    anonymous = await client.get("/admin", headers=HTML, follow_redirects=False)
    assert anonymous.status_code in (302, 303, 307)
    assert "/login?next=/admin" in anonymous.headers["location"]
    await create_user(email="exec@example.com", name="Eve", roles=["executive"], password=PASSWORD)
    await login(client, "exec@example.com", PASSWORD)
    refused = await client.get("/admin/triggers", headers=HTML)
    assert refused.status_code == 403
    assert "<html" in refused.text


async def test_every_section_has_the_navigation(admin_client):
    home = await admin_client.get("/admin", headers=HTML)
    assert home.status_code == 200
    links = re.findall(r'<li><a href="(/admin[^"]*)"', home.text)
    assert {"/admin", "/admin/triggers", "/admin/audit"} <= set(links)
    for path in links:
        r = await admin_client.get(path, headers=HTML)
        assert r.status_code == 200, path
        assert f'href="{path}" aria-current="page"' in r.text
        assert r.headers["cache-control"] == "no-store"


async def test_the_overview_describes_every_registered_section(admin_client):
    import html

    from listening.admin import SECTIONS

    home = await admin_client.get("/admin", headers=HTML)
    described = dict(
        re.findall(r'<dt><a href="([^"]+)">[^<]*</a></dt>\s*<dd>([^<]+)</dd>', home.text)
    )
    others = [s for s in SECTIONS if s.path != "/admin"]
    assert len(others) >= 12  # journey … audit log, messages and privacy among them
    assert set(described) == {s.path for s in others}
    for section in others:
        assert html.unescape(described[section.path]) == section.summary
        assert len(section.summary) > 30, section


async def test_creating_a_trigger_is_audited_and_shown(admin_client):
    await load_org()
    await admin_client.get("/admin/triggers")
    r = await admin_client.post(
        "/admin/triggers",
        data={
            "_csrf_token": csrf(admin_client),
            "key": "phone-tickets",
            "event_type": "ticket.closed",
            "step": "ticket-resolved",
            "channel": "email",
            "sample_percent": "50",
            "delay": "2h",
            "expires_after": "7d",
            "max_event_age": "7d",
            "quarantine": "",
            "reminder_after": "",
            "filters": '{"channel": "phone"}',
            "active": "on",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = await admin_client.get("/admin/triggers")
    assert "phone-tickets" in page.text
    assert "Trigger phone-tickets was saved" in (await admin_client.get(r.headers["location"])).text

    log = await admin_client.get("/api/audit", params={"kind": "trigger"})
    assert log.status_code == 200
    (entry,) = log.json()
    assert entry["actor"] == "admin@example.com"
    assert entry["action"] == "create" and entry["subject"] == "phone-tickets"
    assert entry["before"] is None
    assert entry["after"]["filters"] == {"channel": "phone"}
    assert entry["after"]["delay_seconds"] == 7200

    # Edit: sample 100 %; the entry holds both sides.
    form = {
        "_csrf_token": csrf(admin_client),
        "event_type": "ticket.closed",
        "step": "ticket-resolved",
        "channel": "email",
        "sample_percent": "100",
        "delay": "2h",
        "expires_after": "7d",
        "max_event_age": "7d",
        "filters": '{"channel": "phone"}',
        "active": "on",
    }
    r = await admin_client.post("/admin/triggers/phone-tickets", data=form)
    assert r.status_code == 303
    r = await admin_client.post(
        "/admin/triggers/phone-tickets/deactivate", data={"_csrf_token": csrf(admin_client)}
    )
    assert r.status_code == 303
    entries = (await admin_client.get("/api/audit", params={"kind": "trigger"})).json()
    assert [e["action"] for e in entries] == ["deactivate", "update", "create"]
    assert entries[1]["before"]["sample_percent"] == 50
    assert entries[1]["after"]["sample_percent"] == 100
    assert entries[0]["after"]["active"] is False

    audit_page = await admin_client.get("/admin/audit", params={"kind": "trigger"}, headers=HTML)
    assert audit_page.text.count("phone-tickets") >= 3
    # An update shows the fields it changed, before and after.
    assert "<strong>sample_percent</strong>: <code>50.0</code> → <code>100.0</code>" in (
        audit_page.text
    )


async def test_trigger_form_errors_are_shown_beside_the_field(admin_client):
    await load_org()
    await admin_client.get("/admin/triggers")
    values = {
        "_csrf_token": csrf(admin_client),
        "key": "bad one",
        "event_type": "ticket.closed",
        "step": "ticket-resolved",
        "channel": "link",
        "sample_percent": "lots",
        "delay": "soon",
        "expires_after": "7d",
        "max_event_age": "7d",
        "filters": "{not json",
    }
    r = await admin_client.post("/admin/triggers", data=values, headers=HTML)
    assert r.status_code == 422
    assert 'id="sample_percent-error"' in r.text
    assert 'id="delay-error"' in r.text and "duration" in r.text
    assert 'id="filters-error"' in r.text and "JSON" in r.text
    assert 'value="lots"' in r.text  # the values are kept
    assert "{not json</textarea>" in r.text

    values |= {"sample_percent": "10", "delay": "0s", "filters": "{}"}
    r = await admin_client.post("/admin/triggers", data=values, headers=HTML)
    assert r.status_code == 422
    assert 'id="key-error"' in r.text

    values |= {"key": "ok", "step": "no-such-step"}
    r = await admin_client.post("/admin/triggers", data=values, headers=HTML)
    assert r.status_code == 404
    assert 'id="step-error"' in r.text and "no-such-step" in r.text

    values |= {"step": "ticket-resolved", "channel": "webhook"}
    r = await admin_client.post("/admin/triggers", data=values, headers=HTML)
    assert r.status_code == 422
    assert 'id="webhook_url-error"' in r.text
    assert await AuditEntry.count() == 0

    # The edit form: the same messages beside the fields, the trigger unchanged.
    await admin_client.post(
        "/admin/triggers",
        data=values | {"channel": "link"},
        follow_redirects=False,
    )
    r = await admin_client.post(
        "/admin/triggers/ok", data=values | {"sample_percent": "200"}, headers=HTML
    )
    assert r.status_code == 422
    assert 'id="sample_percent-error"' in r.text
    assert (await admin_client.get("/api/triggers/ok")).json()["sample_percent"] == 10


async def test_dry_run_page_explains_and_stores_nothing(admin_client):
    await load_org()
    await admin_client.get("/admin/triggers")
    stored = await Customer.count()
    r = await admin_client.post(
        "/admin/triggers/dry-run",
        data={"_csrf_token": csrf(admin_client), "event": json.dumps(event())},
        headers=HTML,
    )
    assert r.status_code == 200
    assert "an invitation would be scheduled" in r.text
    assert "ticket-link" in r.text and "sampling" in r.text and "contact frequency" in r.text
    assert "Send at" in r.text
    assert await Customer.count() == stored

    r = await admin_client.post(
        "/admin/triggers/dry-run",
        data={"_csrf_token": csrf(admin_client), "event": json.dumps(event(type="order.paid"))},
    )
    assert "No active trigger listens to events of type" in r.text
    assert "ticket.closed" in r.text

    r = await admin_client.post(
        "/admin/triggers/dry-run",
        data={"_csrf_token": csrf(admin_client), "event": "{oops"},
        headers=HTML,
    )
    assert r.status_code == 400
    assert 'id="event-error"' in r.text and "not valid JSON" in r.text
    assert "{oops</textarea>" in r.text
    bad = event()
    del bad["customer"]
    r = await admin_client.post(
        "/admin/triggers/dry-run",
        data={"_csrf_token": csrf(admin_client), "event": json.dumps(bad)},
        headers=HTML,
    )
    assert r.status_code == 422 and "customer" in r.text


async def test_dry_run_api_history_for_admin_keys_only(client, admin_key, ingest_key):
    await load_org()
    now = datetime.now(UTC)
    await Customer.insert(
        Customer(
            external_id="cust-1",
            email="cust@example.com",
            opted_out_at=now - timedelta(days=1),
            created_at=now - timedelta(days=9),
        )
    )
    body = event()
    admin = await client.post(
        "/api/events/dry-run", json=body, headers={"authorization": f"Bearer {admin_key}"}
    )
    assert admin.status_code == 200, admin.text
    answer = admin.json()
    assert answer["history_consulted"] is True
    (verdict,) = answer["verdicts"]
    assert verdict["status"] == "opted_out"
    assert answer["customer"]["known"] is True

    ingest = await client.post(
        "/api/events/dry-run", json=body, headers={"authorization": f"Bearer {ingest_key}"}
    )
    assert ingest.status_code == 200
    answer = ingest.json()
    assert answer["history_consulted"] is False
    assert answer["customer"]["opted_out_at"] is None and answer["customer"]["known"] is None
    (verdict,) = answer["verdicts"]
    assert verdict["status"] == "scheduled"  # the rules alone
    opt_out = next(c for c in verdict["checks"] if c["name"] == "opt-out")
    assert opt_out["passed"] is None

    assert (await client.post("/api/events/dry-run", json=body)).status_code == 401
    wrong = await client.post(
        "/api/events/dry-run", json=body, headers={"authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    bad = await client.post(
        "/api/events/dry-run",
        json={**body, "occurred_at": "yesterday"},
        headers={"authorization": f"Bearer {ingest_key}"},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "occurred_at"
    assert await Customer.count() == 1


async def test_dry_run_matches_quarantine_suppression_and_filters(client, admin_key):
    await load_org(
        """
[[triggers]]
key = "phone-mail"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "email"
filters = { channel = "phone" }

[[triggers]]
key = "chat-link"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "link"
filters = { channel = "chat" }
"""
    )
    headers = {"authorization": f"Bearer {admin_key}"}
    now = datetime.now(UTC)
    await Customer.insert(
        Customer(
            external_id="cust-1",
            email="cust@example.com",
            last_invited_at=now - timedelta(days=2),
            created_at=now - timedelta(days=9),
        )
    )
    answer = (await client.post("/api/events/dry-run", json=event(), headers=headers)).json()
    by_key = {v["trigger"]: v for v in answer["verdicts"]}
    assert by_key["phone-mail"]["status"] == "quarantined"
    assert by_key["chat-link"]["status"] == "filtered_out"
    filters = next(c for c in by_key["chat-link"]["checks"] if c["name"] == "filters")
    assert "'chat'" in filters["detail"] and "'phone'" in filters["detail"]

    await Customer.update({Customer.last_invited_at: None}).where(Customer.id > 0)
    await Suppression.insert(Suppression(email="cust@example.com", reason="bounce", created_at=now))
    answer = (await client.post("/api/events/dry-run", json=event(), headers=headers)).json()
    assert answer["verdicts"][0]["status"] == "opted_out"
    assert answer["customer"]["suppressed"] is True


@pytest.mark.parametrize(
    ("query", "field"),
    [({"since": "1969-12-31T00:00:00Z"}, "since"), ({"until": "2101-01-01T00:00:00Z"}, "until")],
)
async def test_audit_api_refuses_dates_outside_the_range(admin_client, query, field):
    r = await admin_client.get("/api/audit", params=query)
    assert r.status_code == 400
    assert r.json()["field"] == field


async def test_audit_api_filters_by_actor_and_date(admin_client, admin_key):
    await admin_client.post("/api/departments", json={"key": "ops", "name": "Operations"})
    r = await admin_client.post(
        "/api/departments",
        json={"key": "shop", "name": "Shop"},
        headers={"authorization": f"Bearer {admin_key}"},
    )
    assert r.status_code == 201
    everything = (await admin_client.get("/api/audit")).json()
    assert {e["actor"] for e in everything} == {"admin@example.com", "key:automation"}
    mine = (await admin_client.get("/api/audit", params={"actor": "key:automation"})).json()
    assert [e["subject"] for e in mine] == ["shop"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (await admin_client.get("/api/audit", params={"since": tomorrow})).json() == []
    assert len((await admin_client.get("/api/audit", params={"until": tomorrow})).json()) == 2

    page = await admin_client.get("/admin/audit", params={"since": "1900-01-01"}, headers=HTML)
    assert page.status_code == 400
    assert 'id="since-error"' in page.text and 'value="1900-01-01"' in page.text
    page = await admin_client.get("/admin/audit", params={"until": "31/12/2026"}, headers=HTML)
    assert page.status_code == 400 and 'id="until-error"' in page.text


async def test_dry_run_agrees_with_ingestion(client, admin_key, ingest_key):
    await load_org(
        """
[[triggers]]
key = "half"
event_type = "ticket.closed"
step = "ticket-resolved"
sample_percent = 50

[[triggers]]
key = "phone-mail"
event_type = "ticket.closed"
step = "order-delivered"
channel = "email"
filters = { channel = "phone" }
"""
    )
    dry = {"authorization": f"Bearer {admin_key}"}
    real = {"authorization": f"Bearer {ingest_key}"}
    seen = set()
    for n in range(8):
        body = event(id=f"evt-{n}", customer={"id": f"cust-{n % 3}", "email": "c@example.com"})
        told = (await client.post("/api/events/dry-run", json=body, headers=dry)).json()
        done = (await client.post("/api/events", json=body, headers=real)).json()
        expected = {
            v["trigger"]: v["status"] for v in told["verdicts"] if v["status"] != "filtered_out"
        }
        assert {i["trigger"]: i["status"] for i in done["invitations"]} == expected, n
        seen |= set(expected.values())
    assert {"scheduled", "quarantined"} <= seen
