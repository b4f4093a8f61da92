"""Event ingestion over HTTP: outcomes, idempotency, batches and every refusal."""

from __future__ import annotations

import asyncio
import json

import pytest
from trigger_org import TRIGGERS, event_json, invitation_for_url, load_org

from listening.ingest.jobs import PRECOMPUTE_FROM
from listening.tables import Event
from surveys.tables import Customer, Invitation


@pytest.fixture
async def org(db):
    await load_org()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_event_schedules_a_link_invitation_that_opens_the_survey(client, org, ingest_key):
    response = await client.post("/api/events", json=event_json(1), headers=auth(ingest_key))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["event_id"] == "e1"
    assert body["duplicate"] is False
    (invitation,) = body["invitations"]
    assert invitation["trigger"] == "ticket-link"
    assert invitation["survey"] == "ticket-resolved"
    assert invitation["status"] == "scheduled"
    assert invitation["survey_url"].startswith("http://testserver.local/s/")
    stored = await invitation_for_url(invitation["survey_url"])
    assert stored is not None
    assert stored["channel"] == "link"
    assert stored["status"] == "sent"
    token = invitation["survey_url"].rsplit("/", 1)[1]
    assert len(token) >= 22  # at least 128 bits, URL-safe
    assert token not in json.dumps(await Invitation.select().output(load_json=True), default=str)


async def test_the_same_event_again_answers_the_original_outcome(client, org, ingest_key):
    first = await client.post("/api/events", json=event_json(1), headers=auth(ingest_key))
    again = await client.post("/api/events", json=event_json(1), headers=auth(ingest_key))
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["invitations"] == first.json()["invitations"]
    assert await Event.count() == 1
    assert await Invitation.count() == 1


async def test_twenty_concurrent_duplicates_store_one_event_and_one_invitation(
    client, org, ingest_key
):
    responses = await asyncio.gather(
        *(
            client.post("/api/events", json=event_json(7), headers=auth(ingest_key))
            for _ in range(20)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 19 + [202]
    urls = {r.json()["invitations"][0]["survey_url"] for r in responses}
    assert len(urls) == 1
    assert await Event.count() == 1
    assert await Invitation.count() == 1
    assert await Customer.count() == 1


async def test_an_event_no_trigger_matches_is_stored_with_no_invitations(client, org, ingest_key):
    body = event_json(2, type="newsletter.opened")
    response = await client.post("/api/events", json=body, headers=auth(ingest_key))
    assert response.status_code == 202
    assert response.json()["invitations"] == []
    stored = await Event.select().where(Event.source_id == "e2").first()
    assert stored["type"] == "newsletter.opened"
    assert await Invitation.count() == 0


async def test_customer_fields_and_attributes_are_kept(client, org, ingest_key):
    body = event_json(
        3,
        customer={"id": "c3", "email": "ann@example.com", "name": "Ann", "locale": "de-CH"},
        attributes={"channel": "phone", "agent": 17, "vip": True, "score": 4.5},
    )
    assert (
        await client.post("/api/events", json=body, headers=auth(ingest_key))
    ).status_code == 202
    customer = await Customer.select().where(Customer.external_id == "c3").first()
    assert (customer["email"], customer["name"], customer["locale"]) == (
        "ann@example.com",
        "Ann",
        "de-CH",
    )
    invitation = await Invitation.select().output(load_json=True).first()
    assert invitation["attributes"] == {"channel": "phone", "agent": 17, "vip": True, "score": 4.5}
    assert invitation["locale"] == "de-CH"


# --- batches ---------------------------------------------------------------------------------


async def test_batch_answers_each_event_in_order_rejecting_only_bad_ones(client, org, ingest_key):
    events = [event_json(10), {"type": "ticket.closed"}, event_json(11), event_json(10)]
    response = await client.post("/api/events/batch", json=events, headers=auth(ingest_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 1)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert results[0]["event_id"] == "e10" and results[0]["status_code"] == 202
    assert results[1]["status_code"] == 422 and results[1]["field"] == "id"
    assert results[2]["event_id"] == "e11"
    assert results[3]["duplicate"] is True
    assert results[3]["invitations"] == results[0]["invitations"]
    assert await Event.count() == 2


async def test_a_large_batch_answers_links_that_open_their_own_invitations(client, org, ingest_key):
    # Large enough that the server makes uids, tokens and attribute JSON ahead of the writer.
    assert PRECOMPUTE_FROM <= 300
    events = [
        event_json(n, attributes={"channel": "chat", "order": n, "vip": n % 2 == 0})
        for n in range(300)
    ]
    events.append(event_json(7))  # a repeat inside the batch answers as the first copy
    response = await client.post("/api/events/batch", json=events, headers=auth(ingest_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (300, 1, 0)
    assert body["results"][300]["invitations"] == body["results"][7]["invitations"]
    stored = {
        r["id"]: r
        for r in await Event.select(Event.id, Event.source_id, Event.attributes).output(
            load_json=True
        )
    }
    urls = set()
    for n, result in enumerate(body["results"][:300]):
        (shown,) = result["invitations"]
        invitation = await invitation_for_url(shown["survey_url"])
        assert invitation is not None, n
        event = stored[invitation["event_id"]]
        assert event["source_id"] == f"e{n}"
        assert event["attributes"] == events[n]["attributes"]
        assert json.loads(invitation["attributes"]) == events[n]["attributes"]
        urls.add(shown["survey_url"])
    assert len(urls) == 300 == await Invitation.count()


async def test_a_large_batch_with_two_triggers_per_event_links_both_invitations(
    client, db, ingest_key
):
    # The uid made ahead goes to the first invitation; the second is made in the transaction.
    await load_org(
        TRIGGERS
        + """
[[triggers]]
key = "ticket-nps"
event_type = "ticket.closed"
step = "order-delivered"
channel = "link"
quarantine = "0d"
"""
    )
    events = [event_json(n) for n in range(PRECOMPUTE_FROM + 50)]
    response = await client.post("/api/events/batch", json=events, headers=auth(ingest_key))
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == len(events)
    for n, result in enumerate(results):
        shown = result["invitations"]
        assert [i["trigger"] for i in shown] == ["ticket-link", "ticket-nps"], n
        assert [i["status"] for i in shown] == ["scheduled", "scheduled"], n
        found = [await invitation_for_url(i["survey_url"]) for i in shown]
        assert None not in found, n
        assert [f["trigger_key"] for f in found] == ["ticket-link", "ticket-nps"]
        assert found[0]["event_id"] == found[1]["event_id"]
    assert await Invitation.count() == 2 * len(events)


async def test_batch_accepts_ndjson(client, org, ingest_key):
    lines = "\n".join(json.dumps(event_json(n)) for n in range(20, 25)) + "\n"
    response = await client.post(
        "/api/events/batch",
        content=lines.encode(),
        headers={**auth(ingest_key), "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 5
    assert await Invitation.count() == 5


async def test_batch_of_more_than_ten_thousand_is_413(client, org, ingest_key):
    line = json.dumps(event_json("x")).encode()
    body = b"\n".join([line] * 10_001)
    response = await client.post(
        "/api/events/batch",
        content=body,
        headers={**auth(ingest_key), "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 413
    assert response.json()["field"] == "body"
    assert await Event.count() == 0


async def test_batch_of_exactly_ten_thousand_is_accepted(client, org, ingest_key):
    events = [event_json(n, customer={"id": f"k{n}"}) for n in range(10_000)]
    response = await client.post("/api/events/batch", json=events, headers=auth(ingest_key))
    assert response.status_code == 200
    assert response.json()["accepted"] == 10_000
    assert await Event.count() == 10_000
    assert await Invitation.count() == 10_000


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": None}, "id"),
        ({"id": "x" * 201}, "id"),
        ({"id": ""}, "id"),
        ({"type": None}, "type"),
        ({"occurred_at": "2026-03-11T12:00:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"customer": None}, "customer"),
        ({"customer": {"email": "a@example.com"}}, "customer.id"),
        ({"customer": {"id": "c1", "email": "not an address"}}, "customer.email"),
        ({"customer": {"id": "c1", "time_zone": "Mars/Olympus"}}, "customer.time_zone"),
        ({"attributes": {"nested": {"a": 1}}}, "attributes"),
        ({"attributes": {"list": [1, 2]}}, "attributes"),
        ({"attributes": {"none": None}}, "attributes"),
        ({"attributes": {f"k{i}": i for i in range(51)}}, "attributes"),
        ({"attributes": []}, "attributes"),
        ({"id": "nul\u0000byte"}, "id"),
        ({"attributes": {"note": "nul\u0000byte"}}, "attributes.note"),
    ],
)
async def test_bad_event_is_refused_naming_the_field(client, org, ingest_key, change, field):
    body = event_json(1)
    for name, value in change.items():
        if value is None:
            body.pop(name)
        else:
            body[name] = value
    response = await client.post("/api/events", json=body, headers=auth(ingest_key))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert await Event.count() == 0


async def test_fifty_attributes_are_fine(client, org, ingest_key):
    body = event_json(1, attributes={f"k{i}": i for i in range(50)})
    response = await client.post("/api/events", json=body, headers=auth(ingest_key))
    assert response.status_code == 202


async def test_body_that_is_not_json_is_400(client, org, ingest_key):
    response = await client.post(
        "/api/events",
        content=b"{not json",
        headers={**auth(ingest_key), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    bad_utf8 = await client.post("/api/events", content=b'{"id": "\xff"}', headers=auth(ingest_key))
    assert bad_utf8.status_code == 400


@pytest.mark.parametrize("path", ["/api/events", "/api/events/batch"])
async def test_missing_or_wrong_key_is_401(client, org, path):
    body = event_json(1) if path == "/api/events" else [event_json(1)]
    missing = await client.post(path, json=body)
    assert missing.status_code == 401
    wrong = await client.post(path, json=body, headers=auth("lp_not-a-key"))
    assert wrong.status_code == 401
    assert await Event.count() == 0


async def test_revoked_key_is_401(client, org):
    from listening.apikeys import create_key, revoke_key

    key_id, key = await create_key("old", "ingest")
    assert (
        await client.post("/api/events", json=event_json(1), headers=auth(key))
    ).status_code == 202
    await revoke_key(key_id)
    response = await client.post("/api/events", json=event_json(2), headers=auth(key))
    assert response.status_code == 401
    assert await Event.count() == 1


async def test_admin_key_may_send_events(client, org, admin_key):
    response = await client.post("/api/events", json=event_json(1), headers=auth(admin_key))
    assert response.status_code == 202


async def test_base_url_setting_wins_for_links(settings, org, ingest_key):
    import dataclasses

    import httpx

    from listening.app import create_app

    app = create_app(
        dataclasses.replace(settings, base_url="https://feedback.example.com"), manage_pool=False
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        response = await c.post("/api/events", json=event_json(1), headers=auth(ingest_key))
    url = response.json()["invitations"][0]["survey_url"]
    assert url.startswith("https://feedback.example.com/s/")


async def test_duplicates_sent_to_two_server_processes_store_one_event(db, settings):
    # Two writers with their own connections, as two `serve` processes have.
    from trigger_org import FakeClock, event, load_org

    from listening.ingest.ingestor import Ingestor
    from listening.ingest.jobs import Work

    await load_org()
    clock = FakeClock()
    first, second = Ingestor(settings.secret_key), Ingestor(settings.secret_key)
    try:
        same = [event(n, customer=f"shared-{n % 3}") for n in range(12)]
        results = await asyncio.gather(
            *(
                writer.submit(Work(events=list(same), now=clock()))
                for writer in (first, second, first, second)
            )
        )
    finally:
        await first.close()
        await second.close()
    fresh = [o for outcomes in results for o in outcomes if not o.duplicate]
    assert sorted(o.event_id for o in fresh) == sorted(e.id for e in same)
    assert await Event.count() == 12
    # Three customers, each invited once: the contact rule holds across the writers.
    assert await Invitation.count() == 3
    assert await Customer.count() == 3
