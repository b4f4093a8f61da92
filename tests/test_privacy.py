"""Personal data: access, erasure that keeps anonymous scores, retention purge, never re-invited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import app_with

from listening.app import create_app
from listening.event_privacy import STORED_EVENTS, purge_personal_data
from listening.ingest.jobs import PRECOMPUTE_FROM
from listening.tables import Event
from surveys import privacy, tallies
from surveys.tables import Answer, Customer, FollowUp, Invitation, Message, Response
from tests.conftest import all_tables
from tests.survey_data import NOW, fixed_clock, load_org, make_invitation


async def all_rows_text() -> str:
    """Every row of every table as text: personal data anywhere shows up in it."""
    dumps = []
    for table in all_tables():
        rows = await table.select()
        dumps.append(json.dumps(rows, default=str, ensure_ascii=False))
    return "\n".join(dumps)


COMMENT = "Call me on +49 30 1234567, Jane Roe"
OTHER_COMMENT = "Fine service, thanks"


@pytest.fixture
async def http(settings) -> httpx.AsyncClient:
    """A client on an app whose clock stands at NOW."""
    app = app_with(settings, fixed_clock())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield c


async def _event(source_id: str, customer: str, attributes: dict, received=NOW) -> None:
    await Event.insert(
        Event(
            source_id=source_id,
            type="ticket.resolved",
            occurred_at=received,
            received_at=received,
            customer_external_id=customer,
            attributes=json.dumps(attributes),
            outcome="[]",
        )
    )


async def _answer(http, settings, customer: str, score: int, comment: str) -> int:
    token, _ = await make_invitation(
        settings.secret_key, customer=customer, attributes={"agent": "Sam", "order": "A-17"}
    )
    answer = await http.post(
        f"/api/responses/{token}", json={"answers": {"csat": score, "comment": comment}}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


@pytest.fixture
async def two_customers(http, settings, admin_key) -> dict:
    """cust-1 (to be erased) with events, a low score that opened a follow-up, and a comment;
    cust-2 with an answer of their own."""
    await load_org()
    await Customer.insert(
        Customer(
            external_id="cust-1",
            email="jane.roe@example.com",
            name="Jane Roe",
            locale="de",
            time_zone="Europe/Berlin",
            created_at=NOW - timedelta(days=3),
        )
    )
    await _event("ev-1", "cust-1", {"ticket": "T-9", "phone": "+49 30 1234567"})
    await _event("ev-2", "cust-2", {"ticket": "T-10"})
    first = await _answer(http, settings, "cust-1", 1, COMMENT)
    second = await _answer(http, settings, "cust-2", 5, OTHER_COMMENT)
    http.headers["authorization"] = f"Bearer {admin_key}"
    return {"erased_response": first, "kept_response": second}


async def test_access_returns_everything_but_tokens(http, settings, two_customers) -> None:
    """GET answers the customer row, events, invitations, responses and follow-ups."""
    answer = await http.get("/api/customers/cust-1")
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["customer"]["email"] == "jane.roe@example.com"
    assert record["customer"]["name"] == "Jane Roe"
    assert [e["attributes"]["phone"] for e in record["events"]] == ["+49 30 1234567"]
    assert len(record["invitations"]) == 1
    assert record["invitations"][0]["status"] == "answered"
    assert record["invitations"][0]["step"] == "ticket-resolved"
    assert record["invitations"][0]["attributes"]["agent"] == "Sam"
    (response,) = record["responses"]
    by_question = {a["question"]: a for a in response["answers"]}
    assert by_question["csat"]["score"] == 1
    assert by_question["comment"]["text"] == COMMENT
    assert [f["question"] for f in record["follow_ups"]] == ["csat"]
    # Never the token nor anything it is derived from.
    stored = await Invitation.select(Invitation.uid, Invitation.token_hash).first()
    assert stored["token_hash"] not in answer.text
    assert stored["uid"] not in answer.text
    assert "token" not in answer.text
    other = (await http.get("/api/customers/cust-2")).json()
    assert OTHER_COMMENT in json.dumps(other)
    assert COMMENT not in json.dumps(other)


async def test_erasure_removes_personal_data_and_keeps_scores(
    http, settings, two_customers
) -> None:
    """DELETE empties personal fields everywhere and leaves scores and tallies as they were."""
    tallies_before = await tallies.stored()
    assert sum(tallies_before.values()) > 0
    personal = ["jane.roe@example.com", "Jane Roe", COMMENT, "+49 30 1234567", "Europe/Berlin"]
    before = await all_rows_text()
    assert all(p in before for p in personal[:3])

    answer = await http.delete("/api/customers/cust-1")
    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"]["comments"] == 1

    after = await all_rows_text()
    for value in personal:
        assert value not in after, value
    assert '"cust-1"' not in after and "'cust-1'" not in after
    assert OTHER_COMMENT in after  # the other customer keeps theirs
    assert await tallies.stored() == tallies_before
    assert await tallies.recompute() == tallies_before
    scores = await Answer.select(Answer.score).where(
        Answer.response == two_customers["erased_response"]
    )
    assert 1 in [s["score"] for s in scores]
    assert await FollowUp.count() == 1  # the follow-up task stays, without a person attached
    customer = (
        await Customer.select()
        .where(Customer.external_id == privacy.pseudonym("cust-1", settings.secret_key))
        .first()
    )
    assert customer["erased_at"] is not None
    assert customer["opted_out_at"] is not None
    assert customer["email"] is None and customer["name"] is None
    assert customer["locale"] is None and customer["time_zone"] is None
    queued = await Message.select(Message.status, Message.body_text).where(
        Message.kind == "follow_up"
    )
    assert queued and all(COMMENT not in m["body_text"] for m in queued)
    assert all(m["status"] != "queued" for m in queued)


async def test_erased_customer_is_recognised_by_original_id(http, settings, two_customers):
    """Ingestion can tell an erased id, so a new event never makes a contactable customer."""
    assert not await privacy.is_erased("cust-1", settings.secret_key)
    assert (await http.delete("/api/customers/cust-1")).status_code == 200
    assert await privacy.is_erased("cust-1", settings.secret_key)
    assert not await privacy.is_erased("cust-2", settings.secret_key)
    assert not await privacy.is_erased("cust-1", "another-key-" + "x" * 30)
    assert await privacy.erased_among(["cust-1", "cust-2", "cust-3"], settings.secret_key) == {
        "cust-1"
    }
    # The pseudonym is a keyed hash: not the id, and not its plain SHA-256 either.
    import hashlib

    plain = hashlib.sha256(b"cust-1").hexdigest()
    assert plain not in privacy.pseudonym("cust-1", settings.secret_key)


async def test_unknown_customer_is_404_and_erasure_is_once(http, two_customers) -> None:
    """Both verbs answer 404 for an id nobody has, and for an id already erased."""
    assert (await http.get("/api/customers/nobody")).status_code == 404
    assert (await http.delete("/api/customers/nobody")).status_code == 404
    assert (await http.delete("/api/customers/cust-1")).status_code == 200
    assert (await http.get("/api/customers/cust-1")).status_code == 404
    assert (await http.delete("/api/customers/cust-1")).status_code == 404


async def test_only_admins(http, two_customers, ingest_key) -> None:
    """An ingest key or no key at all cannot read or erase a customer."""
    http.headers["authorization"] = f"Bearer {ingest_key}"
    assert (await http.get("/api/customers/cust-1")).status_code == 403
    assert (await http.delete("/api/customers/cust-1")).status_code == 403
    del http.headers["authorization"]
    assert (await http.get("/api/customers/cust-1")).status_code == 401
    assert await Customer.exists().where(Customer.email == "jane.roe@example.com")


async def test_retention_purges_old_personal_data(http, settings, two_customers) -> None:
    """Data older than N days goes; newer data and all scores stay; purged people stay
    invitable (retention is not an opt-out)."""
    old = NOW - timedelta(days=400)
    await Customer.insert(
        Customer(external_id="old-1", email="old@example.com", name="Old Timer", created_at=old)
    )
    await _event("ev-old", "old-1", {"note": "old personal note"}, received=old)
    old_response = two_customers["erased_response"]
    await Response.update({Response.submitted_at: old}).where(Response.id == old_response)
    await Message.update({Message.status: "sent", Message.created_at: old}).where(
        Message.kind == "follow_up"
    )
    tallies_before = await tallies.stored()

    counts = await purge_personal_data(older_than_days=365, clock=fixed_clock())
    assert counts["customers"] == 1
    assert counts["comments"] == 1

    text = await all_rows_text()
    for gone in ("old@example.com", "Old Timer", "old personal note", COMMENT):
        assert gone not in text, gone
    assert OTHER_COMMENT in text  # answered days ago, inside the period
    assert "jane.roe@example.com" in text  # active recently: keeps her contact data
    assert "+49 30 1234567" in text  # her event is recent
    assert await tallies.stored() == tallies_before
    purged = await Customer.select().where(Customer.external_id.like("purged:%")).first()
    assert purged["email"] is None and purged["opted_out_at"] is None
    assert not await privacy.is_erased("old-1", settings.secret_key)
    # Nothing left to purge: a second run changes no customer.
    again = await purge_personal_data(older_than_days=365, clock=fixed_clock())
    assert again["customers"] == 0


async def test_retention_needs_a_positive_period(db) -> None:
    """A zero period would erase everything at once: refused."""
    with pytest.raises(ValueError):
        await privacy.purge_personal_data(
            older_than_days=0, events=STORED_EVENTS, clock=fixed_clock()
        )


def test_purge_command(tmp_path) -> None:
    """`listening purge` needs a period, then purges a quiet customer's data on its database."""
    import os
    import sqlite3
    import subprocess
    import sys

    path = tmp_path / "purge.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTENING_")}
    env.update(
        LISTENING_DATABASE_URL=f"sqlite:///{path}",
        LISTENING_SECRET_KEY="p" * 40,
        PICCOLO_CONF="listening.piccolo_conf",
    )

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "listening.cli", *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert cli("migrate").returncode == 0
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO customer (external_id, email, created_at) "
            "VALUES ('quiet', 'quiet@example.com', '2020-01-01 00:00:00+00:00')"
        )
    refused = cli("purge")
    assert refused.returncode != 0 and "LISTENING_RETENTION_DAYS" in refused.stderr
    done = cli("purge", LISTENING_RETENTION_DAYS="365")
    assert done.returncode == 0, done.stderr
    assert "1 customers" in done.stdout
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT email FROM customer").fetchone() == (None,)


async def test_new_event_of_an_erased_customer_stores_nothing_personal(settings, admin_key, db):
    """After erasure the original id reaches the erased row: opted out, nothing stored again."""
    from listening.demo.build import JOURNEY_FILE
    from listening.journeys import load_journey_file

    await load_journey_file(JOURNEY_FILE)
    app = create_app(settings, manage_pool=False)
    transport = httpx.ASGITransport(app=app)
    headers = {"authorization": f"Bearer {admin_key}"}
    # The app runs on real time here: a fixed date would turn stale once a week had passed.
    occurred = datetime.now(UTC).isoformat()
    async with (
        app.lifespan(),  # the ingestion writer lives in the app's lifespan
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver.local", headers=headers
        ) as client,
    ):

        async def send(event_id: str) -> dict:
            answer = await client.post(
                "/api/events",
                json={
                    "id": event_id,
                    "type": "ticket.closed",
                    "occurred_at": occurred,
                    "customer": {"id": "cust-9", "email": "kim@example.com", "name": "Kim Lee"},
                    "attributes": {"channel": "phone", "phone": "+1 555 0100"},
                },
            )
            assert answer.status_code == 202, answer.text
            return answer.json()

        first = await send("t-1")
        assert first["invitations"][0]["status"] in {"scheduled", "quarantined"}
        assert (await client.delete("/api/customers/cust-9")).status_code == 200
        customers_before = await Customer.count()
        again = await send("t-2")
        # In a batch large enough to be prepared ahead of the writer, the same holds.
        batch = [
            {
                "id": f"b-{n}",
                "type": "ticket.closed",
                "occurred_at": occurred,
                "customer": {"id": "cust-9" if n == 5 else f"other-{n}"},
                "attributes": {"channel": "phone", "phone": "+1 555 0100"},
            }
            for n in range(PRECOMPUTE_FROM + 20)
        ]
        answer = await client.post("/api/events/batch", json=batch)
        assert answer.status_code == 200, answer.text
    assert again["invitations"][0]["status"] == "opted_out"
    assert answer.json()["results"][5]["invitations"][0]["status"] == "opted_out"
    assert await Customer.count() == customers_before + len(batch) - 1
    in_batch = await Event.select().where(Event.source_id == "b-5").first()
    assert in_batch["customer_external_id"] == privacy.pseudonym("cust-9", settings.secret_key)
    assert json.loads(in_batch["attributes"]) == {}
    assert not await Customer.exists().where(Customer.external_id == "cust-9")
    stored = await Event.select().where(Event.source_id == "t-2").first()
    assert stored["customer_external_id"] == privacy.pseudonym("cust-9", settings.secret_key)
    assert json.loads(stored["attributes"]) == {}
    assert "kim@example.com" not in await all_rows_text()
