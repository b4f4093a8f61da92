"""Closed loop: low scores open follow-ups for the owning department, with notices queued."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest
from conftest import PASSWORD, app_with, login
from survey_data import fixed_clock, load_org, make_invitation

from surveys.accounts import create_user
from surveys.responses import Notify, submit_response
from surveys.tables import FollowUp, Message


@pytest.fixture
async def org(db):
    await load_org()


async def answer(settings, step_key: str, answers: dict, *, customer: str = "c1", notify=None):
    token, _ = await make_invitation(settings.secret_key, step_key=step_key, customer=customer)
    return await submit_response(token, answers, clock=fixed_clock(), notify=notify or Notify())


@pytest.mark.parametrize(
    ("step", "answers", "opened"),
    [
        ("ticket-resolved", {"csat": 2}, True),  # CSAT at most 2
        ("ticket-resolved", {"csat": 1}, True),
        ("ticket-resolved", {"csat": 3}, False),
        ("ticket-resolved", {"csat": 5, "effort": 3}, True),  # CES at most 3
        ("ticket-resolved", {"csat": 5, "effort": 4}, False),
        ("invoice-paid", {"nps": 6}, True),  # NPS at most 6
        ("invoice-paid", {"nps": 7}, False),
    ],
)
async def test_follow_up_at_the_threshold_and_not_above(settings, org, step, answers, opened):
    submitted = await answer(settings, step, answers)
    assert bool(submitted.follow_up_ids) is opened
    assert await FollowUp.count() == (1 if opened else 0)


async def test_question_threshold_overrides_the_default(settings, org):
    from surveys.tables import Question

    await Question.update({Question.alert_threshold: 3}).where(Question.key == "csat")
    assert (await answer(settings, "ticket-resolved", {"csat": 3})).follow_up_ids
    assert not (await answer(settings, "ticket-resolved", {"csat": 4}, customer="c2")).follow_up_ids


async def test_lower_is_better_mirrors_the_default(settings, org):
    from surveys.tables import Question

    await Question.update({Question.higher_is_better: False}).where(Question.key == "effort")
    # CES 1–7 where 1 is easiest: at most 3 becomes at least 5.
    assert (await answer(settings, "ticket-resolved", {"csat": 5, "effort": 5})).follow_up_ids
    assert not (
        await answer(settings, "ticket-resolved", {"csat": 5, "effort": 4}, customer="c2")
    ).follow_up_ids


async def test_email_and_webhook_are_queued_in_the_same_transaction(settings, org):
    notify = Notify(base_url="https://lp.example.com", webhook_url="https://hooks.example.com/lp")
    submitted = await answer(
        settings,
        "ticket-resolved",
        {"csat": 1, "comment": "<b>never again</b>"},
        notify=notify,
    )
    follow_up = await FollowUp.select().where(FollowUp.id == submitted.follow_up_ids[0]).first()
    assert follow_up["status"] == "open" and follow_up["score"] == 1
    messages = await Message.select().order_by(Message.channel)
    assert [m["channel"] for m in messages] == ["email", "webhook"]
    email, hook = messages
    assert email["recipient"] == "support-leads@example.com"
    assert email["status"] == "queued" and email["kind"] == "follow_up"
    assert "Your request is resolved" in email["subject"]
    assert "<b>never again</b>" in email["body_text"]
    assert "&lt;b&gt;never again&lt;/b&gt;" in email["body_html"]
    assert "https://lp.example.com/follow-ups#follow-up-" in email["body_text"]
    assert hook["recipient"] == "https://hooks.example.com/lp"
    payload = json.loads(hook["payload"])
    assert payload["event"] == "follow_up.opened"
    assert payload["follow_ups"][0]["score"] == 1 and payload["step"]["key"] == "ticket-resolved"
    assert payload["customer"] == "c1"
    assert email["uid"] != hook["uid"]


async def test_no_email_without_a_follow_up_address(settings, org):
    await answer(settings, "invoice-paid", {"nps": 0})
    assert await FollowUp.count() == 1
    assert await Message.count() == 0


async def test_a_refused_submission_queues_nothing(settings, org):
    token, _ = await make_invitation(settings.secret_key)
    await submit_response(token, {"csat": 1}, clock=fixed_clock())
    with pytest.raises(Exception):  # noqa: B017 - already answered
        await submit_response(token, {"csat": 1}, clock=fixed_clock())
    assert await FollowUp.count() == 1
    assert await Message.count() == 1


@pytest.fixture
async def people(org):
    await create_user(
        email="sam@example.com",
        name="Sam Support",
        roles=["employee"],
        password=PASSWORD,
        department_key="support",
    )
    await create_user(
        email="bo@example.com",
        name="Bo Billing",
        roles=["employee"],
        password=PASSWORD,
        department_key="billing",
    )
    await create_user(
        email="eve@example.com", name="Eve Exec", roles=["executive"], password=PASSWORD
    )


@pytest.fixture
async def web(settings, people):
    app = app_with(settings, fixed_clock())

    async def make(email: str | None):
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
        )
        if email:
            await login(c, email, PASSWORD)
        return c

    return make


async def test_employees_see_their_departments_follow_ups_only(settings, web):
    await answer(settings, "ticket-resolved", {"csat": 1, "comment": "<script>x()</script>"})
    await answer(settings, "invoice-paid", {"nps": 2}, customer="c2")
    sam, bo, eve = (
        await web("sam@example.com"),
        await web("bo@example.com"),
        await web("eve@example.com"),
    )
    assert [f["department"] for f in (await sam.get("/api/follow-ups")).json()] == ["support"]
    assert [f["department"] for f in (await bo.get("/api/follow-ups")).json()] == ["billing"]
    assert len((await eve.get("/api/follow-ups")).json()) == 2
    support_id = (await sam.get("/api/follow-ups")).json()[0]["id"]
    assert (await bo.get(f"/api/follow-ups/{support_id}")).status_code == 404
    moved = await bo.patch(f"/api/follow-ups/{support_id}", json={"status": "in_progress"})
    assert moved.status_code == 404
    page = await sam.get("/follow-ups")
    assert page.status_code == 200
    assert "&lt;script&gt;x()&lt;/script&gt;" in page.text and "<script>x()" not in page.text
    anonymous = await web(None)
    assert (await anonymous.get("/api/follow-ups")).status_code == 401
    for c in (sam, bo, eve, anonymous):
        await c.aclose()


async def test_open_in_progress_closed_with_note_and_closer(settings, web):
    submitted = await answer(settings, "ticket-resolved", {"csat": 2})
    fid = submitted.follow_up_ids[0]
    sam = await web("sam@example.com")
    moved = await sam.patch(f"/api/follow-ups/{fid}", json={"status": "in_progress"})
    assert moved.status_code == 200 and moved.json()["status"] == "in_progress"
    no_note = await sam.patch(f"/api/follow-ups/{fid}", json={"status": "closed"})
    assert no_note.status_code == 422 and no_note.json()["field"] == "note"
    bad = await sam.patch(f"/api/follow-ups/{fid}", json={"status": "done"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"
    closed = await sam.patch(
        f"/api/follow-ups/{fid}", json={"status": "closed", "note": "Called back, refunded"}
    )
    assert closed.status_code == 200
    body = closed.json()
    assert body["status"] == "closed" and body["note"] == "Called back, refunded"
    assert body["closed_by"] == "Sam Support" and body["closed_at"]
    reopened = await sam.patch(f"/api/follow-ups/{fid}", json={"status": "open"})
    assert reopened.status_code == 409
    assert [f["id"] for f in (await sam.get("/api/follow-ups?status=closed")).json()] == [fid]
    assert (await sam.get("/api/follow-ups?status=nonsense")).status_code == 422
    await sam.aclose()


async def test_page_form_closes_a_follow_up(settings, web):
    submitted = await answer(settings, "ticket-resolved", {"csat": 1})
    fid = submitted.follow_up_ids[0]
    sam = await web("sam@example.com")
    token = sam.cookies.get("lp_csrf")
    refused = await sam.post(
        f"/follow-ups/{fid}", data={"status": "closed", "note": "", "_csrf_token": token}
    )
    assert refused.status_code == 422 and "before closing" in refused.text
    done = await sam.post(
        f"/follow-ups/{fid}",
        data={"status": "closed", "note": "Apologised", "_csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    row = await FollowUp.select().where(FollowUp.id == fid).first()
    assert row["status"] == "closed" and row["note"] == "Apologised" and row["closed_by"]
    await sam.aclose()


async def test_webhook_setting_reaches_the_notice(settings, org):
    configured = dataclasses.replace(settings, follow_up_webhook_url="http://127.0.0.1:9/hook")
    from listening.app import create_app

    app = create_app(configured, clock=fixed_clock(), manage_pool=False)
    token, _ = await make_invitation(settings.secret_key)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
    ) as c:
        created = await c.post(f"/api/responses/{token}", json={"answers": {"csat": 1}})
    assert created.status_code == 201 and created.json()["follow_ups"] == 1
    hooks = await Message.select().where(Message.channel == "webhook")
    assert [h["recipient"] for h in hooks] == ["http://127.0.0.1:9/hook"]
    assert (
        "http://testserver.local/follow-ups#follow-up-"
        in json.loads(hooks[0]["payload"])["follow_ups"][0]["url"]
    )
