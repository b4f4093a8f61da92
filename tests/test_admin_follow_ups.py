"""The console's follow-ups board through HTTP: columns per department with the customer's
answer and comment, assignment to a person, closing with a note (refused without one, the
typed values kept), each change audited."""

from __future__ import annotations

import html
import re

import httpx
from survey_data import fixed_clock, load_org, make_invitation

from surveys.accounts import create_user
from surveys.responses import Notify, submit_response
from surveys.tables import AuditEntry, FollowUp

HTML = {"accept": "text/html"}


def csrf(client: httpx.AsyncClient) -> str:
    return client.cookies.get("lp_csrf")


async def post(client, path: str, data: dict) -> httpx.Response:
    return await client.post(path, data={"_csrf_token": csrf(client), **data})


def column(page: str, status: str) -> str:
    return re.search(rf'aria-labelledby="col-{status}">(.*?)</section>', page, re.S)[1]


async def low_score(settings, step: str, answers: dict, customer: str) -> int:
    token, _ = await make_invitation(settings.secret_key, step_key=step, customer=customer)
    submitted = await submit_response(token, answers, clock=fixed_clock(), notify=Notify())
    return submitted.follow_up_ids[0]


async def test_board_assign_and_close_with_a_note(admin_client, settings):
    await load_org()
    worker = await create_user(
        email="sam@corp.example", name="Sam Support", roles=["employee"], department_key="support"
    )
    support = await low_score(
        settings, "ticket-resolved", {"csat": 1, "comment": "Nobody called back"}, "c1"
    )
    billing = await low_score(settings, "invoice-paid", {"nps": 2}, "c2")
    page = await admin_client.get("/admin/follow-ups", headers=HTML)
    assert page.status_code == 200
    opened = column(page.text, "open")
    assert f'id="follow-up-{support}"' in opened and f'id="follow-up-{billing}"' in opened
    assert "Nobody called back" in opened and "<strong>1</strong>" in opened
    only_support = await admin_client.get("/admin/follow-ups?department=support", headers=HTML)
    assert f'id="follow-up-{billing}"' not in only_support.text

    moved = await post(
        admin_client,
        f"/admin/follow-ups/{support}",
        {"assignee": str(worker.id), "status": "in_progress", "department_filter": "support"},
    )
    assert moved.status_code == 303
    assert moved.headers["location"] == f"/admin/follow-ups?saved={support}&department=support"
    row = await FollowUp.select().where(FollowUp.id == support).first()
    assert (row["status"], row["assignee"]) == ("in_progress", worker.id)
    page = await admin_client.get("/admin/follow-ups", headers=HTML)
    assert f'id="follow-up-{support}"' in column(page.text, "in_progress")

    no_note = await post(
        admin_client,
        f"/admin/follow-ups/{support}",
        {"assignee": str(worker.id), "status": "closed", "note": ""},
    )
    assert no_note.status_code == 422
    error = re.search(rf'id="note-{support}-error">([^<]*)<', no_note.text)[1]
    assert html.unescape(error) == "say what was done before closing"
    assert re.search(r'<option value="closed" selected>', no_note.text)  # the choice kept
    nobody = await post(admin_client, f"/admin/follow-ups/{support}", {"assignee": "9999"})
    assert nobody.status_code == 404 and "no such person" in nobody.text

    closed = await post(
        admin_client,
        f"/admin/follow-ups/{support}",
        {"assignee": str(worker.id), "status": "closed", "note": "Called her back; refunded."},
    )
    assert closed.status_code == 303
    page = await admin_client.get("/admin/follow-ups", headers=HTML)
    done = column(page.text, "closed")
    assert "Called her back; refunded." in done and "by Ada Admin" in done
    again = await post(admin_client, f"/admin/follow-ups/{support}", {"status": "open"})
    assert again.status_code == 409
    entries = (
        await AuditEntry.select().where(AuditEntry.kind == "follow_up").order_by(AuditEntry.id)
    )
    assert [(e["subject"], e["actor"]) for e in entries] == [
        (str(support), "admin@example.com"),
        (str(support), "admin@example.com"),
    ]
    assert entries[-1]["person"] is not None  # erasing the customer blanks the note's entry
