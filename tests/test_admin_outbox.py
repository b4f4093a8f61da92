"""The console's outbox through HTTP: filters (and their errors beside the field), one
invitation's story, cancel and retry with their audit entries and refusals."""

from __future__ import annotations

import re

import httpx
from trigger_org import event_json, load_org

from surveys.audit import forget_customer, person_ref
from surveys.tables import AuditEntry, Invitation
from surveys.tokens import invitation_token

HTML = {"accept": "text/html"}
# A delayed link trigger: its invitations wait in the outbox as `scheduled`.
DELAYED = """
[[triggers]]
key = "ticket-later"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "email"
delay = "1h"
"""


def csrf(client: httpx.AsyncClient) -> str:
    return client.cookies.get("lp_csrf")


async def post(client, path: str, data: dict | None = None) -> httpx.Response:
    return await client.post(path, data={"_csrf_token": csrf(client), **(data or {})})


async def ingest(client, ingest_key: str, n: int, **fields) -> dict:
    r = await client.post(
        "/api/events",
        json=event_json(n, customer={"id": f"c{n}", "email": f"c{n}@example.com"}, **fields),
        headers={"authorization": f"Bearer {ingest_key}"},
    )
    assert r.status_code == 202, r.text
    shown = r.json()["invitations"][0]
    row = await Invitation.select(Invitation.uid).where(Invitation.customer.external_id == f"c{n}")
    return {**shown, "uid": row[0]["uid"]}


async def test_outbox_lists_filters_and_tells_the_story(admin_client, ingest_key):
    await load_org(DELAYED)
    first = await ingest(admin_client, ingest_key, 1, attributes={"channel": "phone"})
    second = await ingest(admin_client, ingest_key, 2)
    await Invitation.update({Invitation.status: "failed", Invitation.last_error: "boom"}).where(
        Invitation.uid == second["uid"]
    )
    page = await admin_client.get("/admin/outbox", headers=HTML)
    assert page.status_code == 200
    assert f"/admin/outbox/{first['uid']}" in page.text
    assert f"/admin/outbox/{second['uid']}" in page.text
    failed = await admin_client.get("/admin/outbox?status=failed&channel=email", headers=HTML)
    assert f"/admin/outbox/{second['uid']}" in failed.text
    assert f"/admin/outbox/{first['uid']}" not in failed.text
    other_step = await admin_client.get("/admin/outbox?step=order-delivered", headers=HTML)
    assert "/admin/outbox/" not in other_step.text.replace('action="/admin/outbox"', "")
    future = await admin_client.get("/admin/outbox?since=2099-01-01", headers=HTML)
    assert future.status_code == 200 and "No invitation for this filter" in future.text
    story = await admin_client.get(f"/admin/outbox/{first['uid']}", headers=HTML)
    assert story.status_code == 200
    assert "Event <strong>e1</strong> of type ticket.closed" in story.text
    assert '"status": "scheduled"' in re.search(r'id="decision">(.*?)</pre>', story.text, re.S)[1]
    assert "phone" in story.text and "Not answered." in story.text
    assert f'action="/admin/outbox/{first["uid"]}/cancel"' in story.text


async def test_filter_errors_are_shown_beside_the_field(admin_client):
    for query, field in (("since=1969-12-31", "since"), ("until=2101-01-01", "until")):
        r = await admin_client.get(f"/admin/outbox?{query}", headers=HTML)
        assert r.status_code == 400
        error = re.search(rf'id="{field}-error">([^<]*)<', r.text)[1]
        assert f"({field}) must lie between 1970 and 2100" in error
        assert f'value="{query.split("=")[1]}"' in r.text  # the value is kept
    r = await admin_client.get("/admin/outbox?since=tomorrow&status=lost", headers=HTML)
    assert r.status_code == 400
    assert "Enter a date as YYYY-MM-DD." in r.text
    assert re.search(r'id="status-error">Choose a status', r.text)
    missing = await admin_client.get("/admin/outbox/no-such-uid", headers=HTML)
    assert missing.status_code == 404 and "<html" in missing.text


async def test_cancel_and_retry_are_audited_and_refused_when_wrong(
    admin_client, ingest_key, settings
):
    await load_org(DELAYED)
    invited = await ingest(admin_client, ingest_key, 1)
    uid = invited["uid"]
    retry_early = await post(admin_client, f"/admin/outbox/{uid}/retry")
    assert retry_early.status_code == 409
    assert "only a failed invitation can be retried; this one is scheduled" in retry_early.text
    cancelled = await post(admin_client, f"/admin/outbox/{uid}/cancel")
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == f"/admin/outbox?cancel={uid}"
    row = await Invitation.select().where(Invitation.uid == uid).first()
    assert row["status"] == "cancelled"
    link = await admin_client.get(f"/s/{invitation_token(settings.secret_key, uid)}", headers=HTML)
    assert link.status_code == 410  # the link answers as expired
    again = await post(admin_client, f"/admin/outbox/{uid}/cancel")
    assert again.status_code == 409 and "this one is cancelled" in again.text

    second = (await ingest(admin_client, ingest_key, 2))["uid"]
    await Invitation.update(
        {Invitation.status: "failed", Invitation.attempts: 5, Invitation.last_error: "smtp down"}
    ).where(Invitation.uid == second)
    retried = await post(admin_client, f"/admin/outbox/{second}/retry")
    assert retried.status_code == 303
    row = await Invitation.select().where(Invitation.uid == second).first()
    assert (row["status"], row["attempts"], row["last_error"]) == ("scheduled", 0, None)

    entries = (
        await AuditEntry.select().where(AuditEntry.kind == "invitation").order_by(AuditEntry.id)
    )
    assert [(e["action"], e["subject"], e["actor"]) for e in entries] == [
        ("cancel", uid, "admin@example.com"),
        ("retry", second, "admin@example.com"),
    ]
    assert entries[0]["person"] == person_ref("c1", settings.secret_key)
    assert "c1" not in str(entries[0]["before_state"]) + str(entries[0]["after_state"])
    # Erasing the customer blanks what the log holds about them.
    assert await forget_customer("c1", None, settings.secret_key) == 1
    kept = await AuditEntry.select().where(AuditEntry.id == entries[0]["id"]).first()
    assert kept["subject"] == "erased"


async def test_refused_changes_without_the_csrf_token(admin_client, ingest_key):
    await load_org(DELAYED)
    uid = (await ingest(admin_client, ingest_key, 1))["uid"]
    del admin_client.headers["x-csrftoken"]  # the form's token is the only one left out
    r = await admin_client.post(f"/admin/outbox/{uid}/cancel", data={})
    assert r.status_code == 403
    row = await Invitation.select().where(Invitation.uid == uid).first()
    assert row["status"] == "scheduled"
