"""The audit log records each configuration change made through the API and the command line,
names customers only by a keyed hash, and forgets what it held about an erased customer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from trigger_org import load_org

from surveys import audit
from surveys.tables import AuditEntry, Customer


async def entries(client, **query) -> list[dict]:
    r = await client.get("/api/audit", params=query)
    assert r.status_code == 200, r.text
    return r.json()


async def test_catalog_changes_are_recorded_with_before_and_after(admin_client):
    await admin_client.post("/api/departments", json={"key": "ops", "name": "Operations"})
    await admin_client.post("/api/journeys", json={"key": "buy", "name": "Buy"})
    await admin_client.post(
        "/api/steps",
        json={"key": "pay", "name": "Pay", "journey": "buy", "department": "ops"},
    )
    survey = {
        "step": "pay",
        "questions": [
            {"key": "csat", "kind": "csat", "customer": "How was paying?", "employee": "How?"}
        ],
    }
    assert (await admin_client.post("/api/surveys", json=survey)).status_code == 201
    await admin_client.patch("/api/steps/pay", json={"name": "Paying", "moment_of_truth": True})
    await admin_client.delete("/api/journeys/buy")
    # A change that changes nothing leaves no entry.
    await admin_client.patch("/api/departments/ops", json={"name": "Operations"})

    log = await entries(admin_client)
    assert [(e["kind"], e["action"], e["subject"]) for e in reversed(log)] == [
        ("department", "create", "ops"),
        ("journey", "create", "buy"),
        ("step", "create", "pay"),
        ("survey", "create", "pay"),
        ("step", "update", "pay"),
        ("journey", "deactivate", "buy"),
    ]
    step_change = log[1]
    assert step_change["before"]["name"] == "Pay" and step_change["after"]["name"] == "Paying"
    assert step_change["after"]["moment_of_truth"] is True
    assert log[2]["after"]["questions"][0]["customer"] == {"en": "How was paying?"}
    assert {e["actor"] for e in log} == {"admin@example.com"}


async def test_refused_change_is_not_recorded(admin_client):
    r = await admin_client.post(
        "/api/steps", json={"key": "x", "name": "X", "journey": "nope", "department": "nope"}
    )
    assert r.status_code == 422
    assert await AuditEntry.count() == 0


async def test_trigger_user_and_round_api_changes_are_recorded(admin_client):
    await load_org(triggers="")
    r = await admin_client.post(
        "/api/triggers",
        json={"key": "t1", "event_type": "ticket.closed", "step": "ticket-resolved"},
    )
    assert r.status_code == 201, r.text
    await admin_client.patch("/api/triggers/t1", json={"sample_percent": 25})
    await admin_client.delete("/api/triggers/t1")
    r = await admin_client.post(
        "/api/users",
        json={
            "email": "sam@example.com",
            "name": "Sam",
            "roles": ["employee"],
            "department": "support",
        },
    )
    assert r.status_code == 201, r.text
    now = datetime.now(UTC)
    r = await admin_client.post(
        "/api/rounds",
        json={
            "name": "Spring",
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=7)).isoformat(),
            "departments": ["support"],
        },
    )
    assert r.status_code == 201, r.text
    log = await entries(admin_client)
    assert [(e["kind"], e["action"]) for e in reversed(log)] == [
        ("trigger", "create"),
        ("trigger", "update"),
        ("trigger", "deactivate"),
        ("user", "create"),
        ("round", "create"),
    ]
    assert log[3]["before"]["sample_percent"] == 100 and log[3]["after"]["sample_percent"] == 25
    assert log[1]["after"]["email"] == "sam@example.com"
    assert log[0]["after"]["departments"] == ["support"]
    # Only configuration: the log never holds a password or a token.
    assert "password" not in json.dumps(log).lower()


async def test_round_extension_and_closing_are_recorded(admin_client):
    await load_org(triggers="")
    now = datetime.now(UTC)
    made = await admin_client.post(
        "/api/rounds",
        json={
            "name": "Autumn",
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=7)).isoformat(),
            "departments": ["support"],
        },
    )
    assert made.status_code == 201, made.text
    round_id = made.json()["id"]
    later = (now + timedelta(days=14)).isoformat()
    r = await admin_client.patch(f"/api/rounds/{round_id}", json={"ends_at": later})
    assert r.status_code == 200, r.text
    r = await admin_client.post(f"/api/rounds/{round_id}/close")
    assert r.status_code == 200, r.text
    log = await entries(admin_client, kind="round")
    assert [e["action"] for e in log] == ["close", "update", "create"]
    assert log[1]["before"]["ends_at"] < log[1]["after"]["ends_at"]
    assert log[0]["after"]["status"] == "closed"


async def test_erasure_is_logged_by_hash_and_blanks_what_the_log_held(admin_client, settings):
    from listening.apikeys import create_key

    _, bounce_key = await create_key("mailer", "suppress")
    await load_org()
    now = datetime.now(UTC)
    await Customer.insert(Customer(external_id="cust-9", email="nine@example.com", created_at=now))
    r = await admin_client.post(
        "/api/suppressions",
        json={"email": "Nine@Example.com", "reason": "bounce"},
        headers={"authorization": f"Bearer {bounce_key}"},
    )
    assert r.status_code == 201, r.text
    (suppression,) = await entries(admin_client, kind="suppression")
    assert suppression["actor"] == "key:mailer"
    assert "nine" not in json.dumps(suppression).lower()
    assert suppression["subject"] == audit.person_ref("nine@example.com", settings.secret_key)
    assert suppression["after"] == {"reason": "bounce"}

    r = await admin_client.delete("/api/customers/cust-9")
    assert r.status_code == 200, r.text
    (erasure,) = await entries(admin_client, kind="erasure")
    assert erasure["subject"] == audit.person_ref("cust-9", settings.secret_key)
    assert "cust-9" not in json.dumps(erasure)
    (suppression,) = await entries(admin_client, kind="suppression")
    assert suppression["subject"] == audit.FORGOTTEN
    assert suppression["after"] is None


async def test_person_refs_are_keyed():
    assert audit.person_ref("c-1", "k" * 40) != audit.person_ref("c-1", "j" * 40)
    assert audit.person_ref("A@B.example", "k" * 40) == audit.person_ref("a@b.example", "k" * 40)
    assert "c-1" not in audit.person_ref("c-1", "k" * 40)


@pytest.fixture
def cli_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTENING_")}
    env["LISTENING_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    env["LISTENING_SECRET_KEY"] = "c" * 40
    env["PICCOLO_CONF"] = "listening.piccolo_conf"
    return env


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "listening.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_changes_are_recorded_and_ingest_dry_run_stores_nothing(cli_env, tmp_path):
    import sqlite3

    from trigger_org import JOURNEY, TRIGGERS

    assert cli(["migrate"], cli_env).returncode == 0
    journey = tmp_path / "journey.toml"
    journey.write_text(JOURNEY + TRIGGERS)
    assert cli(["load", str(journey)], cli_env).returncode == 0
    made = cli(["apikey", "create", "helpdesk", "--scope", "ingest"], cli_env)
    assert made.returncode == 0, made.stderr
    assert cli(["apikey", "revoke", "1"], cli_env).returncode == 0
    person = ["user", "create", "--email", "kim@example.com", "--name", "Kim", "--role", "admin"]
    made = cli(person, {**cli_env, "LISTENING_PASSWORD": "a long enough password"})
    assert made.returncode == 0, made.stderr

    now = datetime.now(UTC)
    events = tmp_path / "events.ndjson"
    lines = [
        {
            "id": "e1",
            "type": "ticket.closed",
            "occurred_at": now.isoformat(),
            "customer": {"id": "c1"},
        },
        {
            "id": "e2",
            "type": "ticket.closed",
            "occurred_at": now.isoformat(),
            "customer": {"id": "c1"},
        },
        {
            "id": "e3",
            "type": "order.paid",
            "occurred_at": now.isoformat(),
            "customer": {"id": "c2"},
        },
    ]
    events.write_text("\n".join(json.dumps(e) for e in lines) + "\nnot json\n")
    result = cli(["ingest", "--dry-run", str(events)], cli_env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "e1 (ticket.closed):\n  ticket-link -> ticket-resolved (link): scheduled" in out
    # The second event of the same customer falls in the contact-frequency window.
    assert "e2 (ticket.closed):\n  ticket-link -> ticket-resolved (link): quarantined" in out
    assert "no active trigger listens to 'order.paid'" in out
    assert "line 4: body:" in out

    db = sqlite3.connect(cli_env["LISTENING_DATABASE_URL"].removeprefix("sqlite:///"))
    try:
        assert db.execute("SELECT count(*) FROM event").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM customer").fetchone()[0] == 0
        rows = db.execute(
            "SELECT actor, kind, action, after_state FROM audit_entry ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    assert [(k, a) for _, k, a, _ in rows] == [
        ("configuration", "load"),
        ("api_key", "create"),
        ("api_key", "revoke"),
        ("user", "create"),
    ]
    assert all(actor.startswith("cli:") for actor, _, _, _ in rows)
    assert json.loads(rows[-1][3])["roles"] == ["admin"]
    assert "long enough" not in rows[-1][3]
