"""Rating rounds: creation by API and page, open/closed by the clock, invitations, participation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import PASSWORD
from rating_org import BASE_URL, NOW, Clients, Clock, load_org, make_app, make_employee

from surveys.errors import Conflict, Invalid
from surveys.rounds import (
    close_round,
    create_round,
    extend_round,
    invite_employees,
    latest_round_in,
    participation,
)
from surveys.tables import Message, PasswordToken, RoundInvitee, SelfRating, Tally


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def people(db):
    """Three ops employees (one without a password yet), a support employee, an executive."""
    from surveys.accounts import create_user

    await load_org()
    await create_user(email="admin@example.com", name="Ada", roles=["admin"], password=PASSWORD)
    await create_user(email="exec@example.com", name="Eve", roles=["executive"], password=PASSWORD)
    await create_user(
        email="boss@example.com",
        name="Bo",
        roles=["employee", "executive"],
        department_key="support",
        password=PASSWORD,
    )
    return {
        "ops": [
            await make_employee(1),
            await make_employee(2),
            await make_employee(3, password=None),
        ],
        "support": [await make_employee(1, "support")],
    }


@pytest.fixture
async def clients(settings, clock, people):
    pool = Clients(make_app(settings, clock))
    yield pool
    await pool.close()


def round_body(clock: Clock, **changes) -> dict:
    body = {
        "name": "Winter 2026",
        "starts_at": (clock() + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "ends_at": (clock() + timedelta(days=14)).isoformat(),
        "departments": ["ops"],
    }
    body.update(changes)
    return body


async def test_admin_creates_a_round_and_employees_are_invited(clients, clock, people):
    admin = await clients.new("admin@example.com")
    response = await admin.post("/api/rounds", json=round_body(clock))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "Winter 2026"
    assert created["departments"] == ["ops"]
    assert created["status"] == "scheduled"
    assert created["starts_at"].startswith((NOW + timedelta(hours=1)).isoformat()[:19])

    messages = await Message.select().order_by(Message.recipient)
    assert [m["recipient"] for m in messages] == [
        "ops1@example.com",
        "ops2@example.com",
        "ops3@example.com",
    ]
    assert await RoundInvitee.count() == 3
    for m in messages:
        assert m["kind"] == "round_invitation"
        assert m["channel"] == "email"
        assert m["status"] == "queued"
        assert "Winter 2026" in m["subject"]
        # links use the address the request came to when no base URL is configured
        assert "http://testserver.local/rate" in m["body_text"]
        assert 'href="http://testserver.local/rate"' in m["body_html"]
    with_password, without = messages[0], messages[2]
    assert "/password/set/" not in with_password["body_text"]
    # the employee without a password gets the set-password link first, and it works
    text = without["body_text"]
    assert text.index("/password/set/") < text.index("/rate\n")
    token = re.search(r"/password/set/([\w-]+)", text).group(1)
    anonymous = await clients.new()
    page = await anonymous.get(f"/password/set/{token}")
    assert page.status_code == 200
    assert "Choose your password" in page.text
    assert await PasswordToken.count() == 1


async def test_round_validation(clients, clock):
    admin = await clients.new("admin@example.com")
    cases = [
        (round_body(clock, starts_at="2026-12-01T09:00:00"), 422, "starts_at"),
        (round_body(clock, starts_at="tomorrow"), 422, "starts_at"),
        (round_body(clock, ends_at=(NOW - timedelta(days=1)).isoformat()), 422, "ends_at"),
        (
            round_body(
                clock,
                starts_at=(NOW + timedelta(days=3)).isoformat(),
                ends_at=(NOW + timedelta(days=2)).isoformat(),
            ),
            422,
            "ends_at",
        ),
        (round_body(clock, departments=[]), 422, "departments"),
        (round_body(clock, departments=["ops", "nope"]), 422, "departments"),
        (round_body(clock, name="  "), 422, "name"),
        (round_body(clock, name="a\x00b"), 422, "name"),
    ]
    for body, status, field in cases:
        response = await admin.post("/api/rounds", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["field"] == field
    response = await admin.post("/api/rounds", json={**round_body(clock), "extra": 1})
    assert response.status_code == 400
    assert await Message.count() == 0


async def test_overlapping_round_for_a_department_is_409(clients, clock):
    admin = await clients.new("admin@example.com")
    assert (await admin.post("/api/rounds", json=round_body(clock))).status_code == 201
    clash = round_body(clock, name="Clash", departments=["support", "ops"])
    response = await admin.post("/api/rounds", json=clash)
    assert response.status_code == 409
    assert response.json()["field"] == "departments"
    # nothing of the refused round was written
    assert await Message.count() == 3
    later = round_body(
        clock,
        name="Spring",
        starts_at=(NOW + timedelta(days=30)).isoformat(),
        ends_at=(NOW + timedelta(days=40)).isoformat(),
    )
    assert (await admin.post("/api/rounds", json=later)).status_code == 201


async def test_status_follows_the_clock(clients, clock):
    admin = await clients.new("admin@example.com")
    round_id = (await admin.post("/api/rounds", json=round_body(clock))).json()["id"]
    assert (await admin.get(f"/api/rounds/{round_id}")).json()["status"] == "scheduled"
    clock.advance(hours=1)
    assert (await admin.get(f"/api/rounds/{round_id}")).json()["status"] == "open"
    clock.advance(days=14)
    admin = await clients.new("admin@example.com")  # two weeks on, the session has ended
    assert (await admin.get(f"/api/rounds/{round_id}")).json()["status"] == "closed"
    assert [r["id"] for r in (await admin.get("/api/rounds")).json()] == [round_id]
    assert (await admin.get("/api/rounds/999")).status_code == 404


async def test_roles(clients, clock, people):
    admin = await clients.new("admin@example.com")
    executive = await clients.new("exec@example.com")
    employee = await clients.new("ops1@example.com")
    boss = await clients.new("boss@example.com")
    anonymous = await clients.new()
    round_id = (await admin.post("/api/rounds", json=round_body(clock))).json()["id"]
    # only admins open rounds
    for client in (executive, employee, boss):
        assert (await client.post("/api/rounds", json=round_body(clock))).status_code == 403
    assert (await anonymous.post("/api/rounds", json=round_body(clock))).status_code in (401, 403)
    # executives (and employees who are also executives) see rounds and participation
    for client in (admin, executive, boss):
        assert (await client.get("/api/rounds")).status_code == 200
        assert (await client.get(f"/api/rounds/{round_id}/participation")).status_code == 200
    # plain employees do not
    assert (await employee.get("/api/rounds")).status_code == 403
    assert (await employee.get(f"/api/rounds/{round_id}/participation")).status_code == 403
    assert (await anonymous.get(f"/api/rounds/{round_id}/participation")).status_code == 401
    # the rounds page is the admins'
    assert (await admin.get("/rounds")).status_code == 200
    assert (await executive.get("/rounds")).status_code == 403
    assert (await employee.get("/rounds")).status_code == 403
    # the rating page and API are the employees'
    assert (await admin.get("/api/self-ratings/mine")).status_code == 403
    assert (await executive.get("/api/self-ratings")).status_code == 403
    assert (await boss.get("/api/self-ratings")).status_code == 200
    # an employee without the executive role sees their own department's results only
    overview = await employee.get("/dashboards")
    assert overview.status_code == 302
    assert overview.headers["location"].startswith("/dashboards/")
    rows = (await employee.get("/api/gaps")).json()
    assert {r["department"] for r in rows} <= {overview.headers["location"].split("/")[2]}


async def test_participation_counts_invited_and_answered(clients, clock, people):
    admin = await clients.new("admin@example.com")
    body = round_body(clock, departments=["ops", "support"])
    round_id = (await admin.post("/api/rounds", json=body)).json()["id"]
    clock.advance(hours=2)
    for email, step, answers in (
        ("ops1@example.com", "pack", {"csat": 4}),
        ("ops1@example.com", "ship", {"ease": 5, "nps": 8}),
        ("ops2@example.com", "pack", {"csat": 2}),
    ):
        client = await clients.new(email)
        response = await client.post("/api/self-ratings", json={"step": step, "answers": answers})
        assert response.status_code == 201, response.text
    result = (await admin.get(f"/api/rounds/{round_id}/participation")).json()
    assert result["status"] == "open"
    assert result["departments"] == [
        {"department": "ops", "name": "Operations", "invited": 3, "answered": 2},
        {"department": "support", "name": "Customer Support", "invited": 2, "answered": 0},
    ]
    # an employee who joins later is invited on request, once
    await make_employee(9)
    response = await admin.post(f"/api/rounds/{round_id}/invitations")
    assert response.json() == {"invited": 1}
    assert (await admin.post(f"/api/rounds/{round_id}/invitations")).json() == {"invited": 0}
    result = (await admin.get(f"/api/rounds/{round_id}/participation")).json()
    assert result["departments"][0]["invited"] == 4
    assert await Message.count().where(Message.recipient == "ops9@example.com") == 1


async def test_rounds_page_opens_a_round(clients, clock):
    admin = await clients.new("admin@example.com")
    page = await admin.get("/rounds")
    assert page.status_code == 200
    assert 'name="departments" value="ops"' in page.text
    form = {
        "_csrf_token": admin.cookies.get("lp_csrf"),
        "name": "From the page",
        "starts_at": "2026-12-02T09:00:00+01:00",
        "ends_at": "2026-12-16T17:00:00+01:00",
        "departments": ["ops", "sales"],
    }
    response = await admin.post("/rounds", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = await admin.get(response.headers["location"])
    assert "From the page" in page.text
    assert "The round was created" in page.text
    rounds = (await admin.get("/api/rounds")).json()
    assert rounds[0]["departments"] == ["ops", "sales"]
    assert rounds[0]["starts_at"].startswith("2026-12-02T08:00:00")
    # a bad form comes back with the error next to the field, values kept
    form.update(name="Bad", starts_at="2026-13-02")
    response = await admin.post("/rounds", data=form, headers={"accept": "text/html"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")  # a page, not its source
    assert 'id="starts_at-error"' in response.text
    assert 'value="Bad"' in response.text


async def test_service_helpers_pick_one_round_at_a_time(people, clock):
    first = await create_round(
        name="First",
        starts_at=NOW.isoformat(),
        ends_at=(NOW + timedelta(days=7)).isoformat(),
        departments=["ops"],
        base_url=BASE_URL,
        clock=clock,
    )
    second = await create_round(
        name="Second",
        starts_at=(NOW + timedelta(days=20)).isoformat(),
        ends_at=(NOW + timedelta(days=27)).isoformat(),
        departments=["ops"],
        base_url=BASE_URL,
        clock=clock,
    )
    latest = await latest_round_in(NOW, NOW + timedelta(days=60))
    assert latest is not None and latest.id == second.id
    latest = await latest_round_in(NOW, NOW + timedelta(days=10))
    assert latest is not None and latest.id == first.id
    assert await latest_round_in(NOW + timedelta(days=100), NOW + timedelta(days=200)) is None
    # invitations use the base URL given
    body = (await Message.select(Message.body_text).first())["body_text"]
    assert f"{BASE_URL}/rate" in body
    # after the round closed nobody new is invited
    clock.now = first.ends_at
    await make_employee(8)
    assert await invite_employees(first.id, base_url=BASE_URL, clock=clock) == 0
    assert [p.invited for p in await participation(first.id)] == [3]


async def test_admin_extends_an_open_round_later_only(clients, clock, people):
    admin = await clients.new("admin@example.com")
    executive = await clients.new("exec@example.com")
    body = round_body(clock, departments=["ops"])
    info = (await admin.post("/api/rounds", json=body)).json()
    clock.advance(hours=2)
    rater = await clients.new("ops1@example.com")
    rated = await rater.post("/api/self-ratings", json={"step": "pack", "answers": {"csat": 4}})
    assert rated.status_code == 201
    later = (clock() + timedelta(days=20)).isoformat()
    path = f"/api/rounds/{info['id']}"
    # executives see rounds but do not change them
    assert (await executive.patch(path, json={"ends_at": later})).status_code == 403
    response = await admin.patch(path, json={"ends_at": later})
    assert response.status_code == 200, response.text
    assert response.json()["ends_at"].startswith(later[:19])
    assert response.json()["status"] == "open"
    # the round's employee tallies moved to its new end day, so it stays one round in trends
    days = {r["day"] for r in await Tally.select(Tally.day).where(Tally.source == "employee")}
    assert days == {(clock() + timedelta(days=20)).date()}
    # an earlier end, a bad time, an unknown field or an overlap: 4xx naming the field
    earlier = (clock() + timedelta(days=3)).isoformat()
    for bad, status, field in (
        ({"ends_at": earlier}, 422, "ends_at"),
        ({"ends_at": "soon"}, 422, "ends_at"),
        ({"ends_at": "9999-12-31T23:59:59-14:00"}, 422, "ends_at"),
        ({"name": ""}, 422, "name"),
        ({}, 422, "ends_at"),
    ):
        response = await admin.patch(path, json=bad)
        assert response.status_code == status, (bad, response.text)
        assert response.json()["field"] == field
    assert (await admin.patch(path, json={"starts_at": later})).status_code == 400
    assert (await admin.patch("/api/rounds/999", json={"ends_at": later})).status_code == 404
    follow = round_body(
        clock,
        name="Next",
        starts_at=(clock() + timedelta(days=25)).isoformat(),
        ends_at=(clock() + timedelta(days=30)).isoformat(),
    )
    assert (await admin.post("/api/rounds", json=follow)).status_code == 201
    response = await admin.patch(path, json={"ends_at": (clock() + timedelta(days=26)).isoformat()})
    assert response.status_code == 409 and response.json()["field"] == "ends_at"
    # once closed it cannot change
    clock.advance(days=21)
    admin = await clients.new("admin@example.com")  # three weeks on, the session has ended
    response = await admin.patch(path, json={"ends_at": (clock() + timedelta(days=2)).isoformat()})
    assert response.status_code == 409 and response.json()["field"] == "ends_at"


async def test_admin_closes_a_round_early_and_it_is_anonymised(clients, clock, people):
    admin = await clients.new("admin@example.com")
    executive = await clients.new("exec@example.com")
    info = (await admin.post("/api/rounds", json=round_body(clock))).json()
    path = f"/api/rounds/{info['id']}/close"
    # a scheduled round cannot be closed
    response = await admin.post(path)
    assert response.status_code == 409 and response.json()["field"] == "round"
    clock.advance(hours=2)
    rater = await clients.new("ops1@example.com")
    for step, answers in (("pack", {"csat": 4}), ("ship", {"ease": 5, "nps": 8})):
        response = await rater.post("/api/self-ratings", json={"step": step, "answers": answers})
        assert response.status_code == 201
    assert (await executive.post(path)).status_code == 403
    response = await admin.post(path)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "closed"
    assert response.json()["ends_at"].startswith(clock().isoformat()[:19])
    rows = await SelfRating.select(SelfRating.employee, SelfRating.rater)
    assert len(rows) == 2 and {r["employee"] for r in rows} == {None}
    assert len({r["rater"] for r in rows}) == 1  # one rater, still grouped
    days = {r["day"] for r in await Tally.select(Tally.day).where(Tally.source == "employee")}
    assert days == {clock().date()}
    # closed: no more answers, nothing of theirs to show or erase, no second close
    again = await rater.post("/api/self-ratings", json={"step": "pack", "answers": {"csat": 1}})
    assert again.status_code == 409
    mine = (await rater.get("/api/self-ratings/mine")).json()
    assert mine["ratings"] == []
    assert mine["closed_rounds"][0]["answered"] == 1
    assert (await rater.delete("/api/self-ratings/mine")).json() == {"erased": 0}
    assert (await admin.post(path)).status_code == 409
    response = await admin.patch(
        f"/api/rounds/{info['id']}", json={"ends_at": (clock() + timedelta(days=1)).isoformat()}
    )
    assert response.status_code == 409 and response.json()["field"] == "ends_at"


async def test_round_services_for_an_admin_console(people, clock):
    info = await create_round(
        name="Console",
        starts_at=NOW.isoformat(),
        ends_at=(NOW + timedelta(days=7)).isoformat(),
        departments=["ops"],
        base_url=BASE_URL,
        clock=clock,
    )
    clock.advance(hours=1)
    longer = await extend_round(info.id, ends_at=NOW + timedelta(days=9), clock=clock)
    assert longer.ends_at == NOW + timedelta(days=9)
    with pytest.raises(Invalid) as refused:
        await extend_round(info.id, ends_at=NOW + timedelta(days=8), clock=clock)
    assert refused.value.field == "ends_at"
    closed = await close_round(info.id, clock=clock)
    assert closed.ends_at == clock() and closed.status(clock()) == "closed"
    with pytest.raises(Conflict):
        await close_round(info.id, clock=clock)


async def test_invitations_at_once_invite_a_late_joiner_once(people, clock):
    import asyncio

    round_ = await create_round(
        name="Winter",
        starts_at=NOW.isoformat(),
        ends_at=(NOW + timedelta(days=7)).isoformat(),
        departments=["ops"],
        base_url=BASE_URL,
        clock=clock,
    )
    await make_employee(9)
    # As server processes do when each gets the request: on PostgreSQL they used to find
    # the joiner not yet invited alike, and all inserts but one failed on the unique index.
    counts = await asyncio.gather(
        *(invite_employees(round_.id, base_url=BASE_URL, clock=clock) for _ in range(4))
    )
    assert sorted(counts) == [0, 0, 0, 1]
    assert await RoundInvitee.count().where(RoundInvitee.round == round_.id) == 4
    assert await Message.count().where(Message.recipient == "ops9@example.com") == 1
