"""The console's rounds through HTTP: opening a round (errors beside the field, values kept),
participation and reminders as counts only, extending and closing early; each change audited."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import httpx
from trigger_org import load_org

from surveys.accounts import create_user
from surveys.tables import AuditEntry, Message, Round

HTML = {"accept": "text/html"}


def csrf(client: httpx.AsyncClient) -> str:
    return client.cookies.get("lp_csrf")


async def post(client, path: str, data: dict) -> httpx.Response:
    return await client.post(path, data={"_csrf_token": csrf(client), **data})


def error_of(page: str, field: str) -> str:
    return html.unescape(re.search(rf'id="{field}-error">([^<]*)<', page)[1])


def local(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


async def test_open_remind_extend_and_close_a_round(admin_client):
    await load_org()
    for n in (1, 2):
        await create_user(
            email=f"emp{n}@corp.example",
            name=f"Emp {n}",
            roles=["employee"],
            department_key="support",
        )
    page = await admin_client.get("/admin/rounds", headers=HTML)
    assert page.status_code == 200 and "No round yet." in page.text
    now = datetime.now(UTC)
    bad = await post(
        admin_client, "/admin/rounds", {"name": "Spring", "starts_at": "", "ends_at": "soon"}
    )
    assert bad.status_code == 422
    assert error_of(bad.text, "starts_at") == "Choose the day and time the round starts."
    assert error_of(bad.text, "ends_at").startswith("Choose the day and time the round ends")
    assert error_of(bad.text, "departments") == "Choose at least one department."
    assert 'value="Spring"' in bad.text and 'value="soon"' in bad.text
    opened = await post(
        admin_client,
        "/admin/rounds",
        {
            "name": "Spring",
            "starts_at": local(now - timedelta(hours=1)),
            "ends_at": local(now + timedelta(days=7)),
            "departments": "support",
        },
    )
    assert opened.status_code == 303
    round_id = (await Round.select(Round.id).first())["id"]
    page = await admin_client.get("/admin/rounds", headers=HTML)
    assert "2 invited employees have not rated yet." in page.text
    assert "emp1@corp.example" not in page.text  # counts, never names
    reminded = await post(admin_client, f"/admin/rounds/{round_id}/remind", {})
    assert reminded.status_code == 200 and "2 employees were reminded." in reminded.text
    assert "emp1" not in reminded.text
    assert await Message.count().where(Message.kind == "round_reminder") == 2

    earlier = await post(
        admin_client,
        f"/admin/rounds/{round_id}/extend",
        {"ends_at": local(now + timedelta(days=1))},
    )
    assert earlier.status_code == 422 and "ends_at may only move later" in earlier.text
    later = await post(
        admin_client,
        f"/admin/rounds/{round_id}/extend",
        {"ends_at": local(now + timedelta(days=10))},
    )
    assert later.status_code == 303
    closed = await post(admin_client, f"/admin/rounds/{round_id}/close", {})
    assert closed.status_code == 303
    row = await Round.select().first()
    assert row["ends_at"] <= datetime.now(UTC) and row["anonymised_at"] is not None
    again = await post(admin_client, f"/admin/rounds/{round_id}/close", {})
    assert again.status_code == 409 and "is closed, not open" in html.unescape(again.text)
    late = await post(admin_client, f"/admin/rounds/{round_id}/remind", {})
    assert late.status_code == 409
    entries = await AuditEntry.select().where(AuditEntry.kind == "round").order_by(AuditEntry.id)
    assert [(e["action"], e["subject"]) for e in entries] == [
        ("create", "Spring"),
        ("remind", str(round_id)),
        ("extend", "Spring"),
        ("close", "Spring"),
    ]


async def test_both_round_forms_name_every_fault_at_once(admin_client):
    """The console's form and /rounds open rounds through one path: a blank name is named
    beside the other faults, and nothing is stored."""
    await load_org()
    for path in ("/admin/rounds", "/rounds"):
        bad = await admin_client.post(
            path,
            data={"_csrf_token": csrf(admin_client), "name": "  ", "starts_at": "", "ends_at": ""},
            headers=HTML,
        )
        assert bad.status_code == 422, path
        assert error_of(bad.text, "name") == "Give the round a name, for example “Spring 2027”."
        assert error_of(bad.text, "starts_at") == "Choose the day and time the round starts."
        assert error_of(bad.text, "departments") == "Choose at least one department."
    assert await Round.count() == 0
