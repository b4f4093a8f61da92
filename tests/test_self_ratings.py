"""Employee self-ratings: scoping, one answer per step and round, changes, erasure, tallies."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from rating_org import Clock, load_org, make_employee, open_round

from surveys import tallies
from surveys.errors import Conflict, Forbidden, Invalid, NotFound
from surveys.self_ratings import erase_mine, my_closed_rounds, my_ratings, steps_to_rate, submit
from surveys.tables import SelfRating, SelfRatingScore


@pytest.fixture
async def org(db):
    await load_org()


async def employee_tallies() -> dict:
    return {k: v for k, v in (await tallies.stored()).items() if k[2] == "employee"}


async def test_steps_show_both_wordings_for_own_department_only(org):
    ops = await make_employee(1, "ops")
    steps = await steps_to_rate(ops.department_id)
    assert [s.key for s in steps] == ["pack", "ship"]
    pack = steps[0]
    # only rating questions: the text question has no employee side
    assert [q.key for q in pack.questions] == ["csat"]
    assert pack.questions[0].customer == "How satisfied are you with the packaging?"
    assert pack.questions[0].employee == "How satisfied are customers with our packaging?"
    assert (pack.questions[0].low, pack.questions[0].high) == (1, 5)
    ship = steps[1]
    assert ship.moment_of_truth
    assert [(q.key, q.low, q.high) for q in ship.questions] == [("ease", 1, 7), ("nps", 0, 10)]


async def test_submit_stores_and_tallies(org):
    clock = Clock()
    ops = await make_employee(1, "ops")
    info = await open_round(clock)
    mine = await submit(
        employee_id=ops.id,
        department_id=ops.department_id,
        step_key="ship",
        answers={"ease": 6, "nps": 9},
        comment="  Couriers are late on Fridays  ",
        clock=clock,
    )
    assert mine.answers == {"ease": 6, "nps": 9}
    assert mine.comment == "Couriers are late on Fridays"
    counts = await employee_tallies()
    assert sorted((k[4], k[5], v) for k, v in counts.items()) == [
        (info.ends_at.date(), 6, 1),
        (info.ends_at.date(), 9, 1),
    ]
    assert all(k[3] == info.id for k in counts)
    assert await tallies.stored() == await tallies.recompute()


async def test_another_departments_step_is_403(org):
    clock = Clock()
    ops = await make_employee(1, "ops")
    await open_round(clock, ("ops", "support"))
    with pytest.raises(Forbidden) as exc:
        await submit(
            employee_id=ops.id,
            department_id=ops.department_id,
            step_key="ticket",
            answers={"csat": 4},
            clock=clock,
        )
    assert exc.value.field == "step"
    with pytest.raises(NotFound):
        await submit(
            employee_id=ops.id,
            department_id=ops.department_id,
            step_key="nope",
            answers={"csat": 4},
            clock=clock,
        )


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"ease": 8, "nps": 3}, "ease"),
        ({"ease": 0, "nps": 3}, "ease"),
        ({"ease": 2, "nps": 11}, "nps"),
        ({"ease": True, "nps": 3}, "ease"),
        ({"ease": "x", "nps": 3}, "ease"),
        ({"ease": 2.5, "nps": 3}, "ease"),
        ({"nps": 3}, "ease"),
        ({"ease": 3, "nps": 3, "bogus": 1}, "bogus"),
    ],
)
async def test_bad_score_is_422_naming_the_question(org, answers, field):
    clock = Clock()
    ops = await make_employee(1, "ops")
    await open_round(clock)
    with pytest.raises(Invalid) as exc:
        await submit(
            employee_id=ops.id,
            department_id=ops.department_id,
            step_key="ship",
            answers=answers,
            clock=clock,
        )
    assert exc.value.field == field
    assert await SelfRating.count() == 0


async def test_comment_with_nul_is_refused(org):
    clock = Clock()
    ops = await make_employee(1, "ops")
    await open_round(clock)
    with pytest.raises(Invalid) as exc:
        await submit(
            employee_id=ops.id,
            department_id=ops.department_id,
            step_key="pack",
            answers={"csat": 3},
            comment="a\x00b",
            clock=clock,
        )
    assert exc.value.field == "comment"


async def test_outside_a_round_is_409_and_says_when_the_next_opens(org):
    from surveys.rounds import create_round

    clock = Clock()
    ops = await make_employee(1, "ops")
    with pytest.raises(Conflict):
        await submit(
            employee_id=ops.id,
            department_id=ops.department_id,
            step_key="pack",
            answers={"csat": 3},
            clock=clock,
        )
    await create_round(
        name="Spring",
        starts_at="2026-12-10T09:00:00+01:00",
        ends_at="2026-12-20T09:00:00+01:00",
        departments=["ops"],
        base_url="http://x",
        clock=clock,
    )
    with pytest.raises(Conflict) as exc:
        await submit(
            employee_id=ops.id,
            department_id=ops.department_id,
            step_key="pack",
            answers={"csat": 3},
            clock=clock,
        )
    assert "2026-12-10T08:00:00+00:00" in exc.value.message
    # a round of another department does not open it for ops
    clock.advance(days=10)
    rating = await submit(
        employee_id=ops.id,
        department_id=ops.department_id,
        step_key="pack",
        answers={"csat": 3},
        clock=clock,
    )
    assert rating.round_name == "Spring"


async def test_change_while_open_replaces_and_retallies_then_refused_after_close(org):
    clock = Clock()
    ops = await make_employee(1, "ops")
    info = await open_round(clock)

    async def rate(score: int) -> None:
        await submit(
            employee_id=ops.id,
            department_id=ops.department_id,
            step_key="pack",
            answers={"csat": score},
            comment=f"score {score}",
            clock=clock,
        )

    await rate(2)
    clock.advance(days=3)
    await rate(5)
    assert await SelfRating.count() == 1
    assert await SelfRatingScore.count() == 1
    counts = await employee_tallies()
    assert {k[5]: v for k, v in counts.items()} == {5: 1}
    assert await tallies.stored() == await tallies.recompute()
    mine = await my_ratings(ops.id, clock=clock)
    assert [(m.step, m.answers, m.comment, m.round_open) for m in mine] == [
        ("pack", {"csat": 5}, "score 5", True)
    ]
    clock.now = info.ends_at
    with pytest.raises(Conflict):
        await rate(1)
    # the round closed: the rating was severed from its author, so it is no longer theirs to see
    assert await my_ratings(ops.id, clock=clock) == []
    rows = await SelfRating.select(SelfRating.employee, SelfRating.rater, SelfRating.comment)
    assert len(rows) == 1 and rows[0]["employee"] is None and len(rows[0]["rater"]) == 32
    assert rows[0]["comment"] == "score 5"
    assert {k[5]: v for k, v in (await employee_tallies()).items()} == {5: 1}
    assert await tallies.stored() == await tallies.recompute()


async def test_concurrent_submissions_end_as_one_rating(org):
    clock = Clock()
    ops = await make_employee(1, "ops")
    await open_round(clock)
    scores = [1, 2, 3, 4, 5, 1, 2, 3]
    results = await asyncio.gather(
        *[
            submit(
                employee_id=ops.id,
                department_id=ops.department_id,
                step_key="pack",
                answers={"csat": s},
                clock=clock,
            )
            for s in scores
        ],
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    assert await SelfRating.count() == 1
    stored_scores = await SelfRatingScore.select(SelfRatingScore.score)
    assert len(stored_scores) == 1
    counts = await employee_tallies()
    assert sum(counts.values()) == 1
    assert await tallies.stored() == await tallies.recompute()


async def test_concurrent_employees_each_count_once(org):
    clock = Clock()
    people = [await make_employee(n, "ops") for n in range(6)]
    await open_round(clock)
    await asyncio.gather(
        *[
            submit(
                employee_id=p.id,
                department_id=p.department_id,
                step_key="pack",
                answers={"csat": 1 + n % 5},
                clock=clock,
            )
            for n, p in enumerate(people)
            for _ in range(2)
        ]
    )
    assert await SelfRating.count() == 6
    counts = await employee_tallies()
    assert sum(counts.values()) == 6
    assert await tallies.stored() == await tallies.recompute()


async def test_unique_index_refuses_a_second_row(org):
    from datetime import UTC, datetime

    clock = Clock()
    ops = await make_employee(1, "ops")
    await open_round(clock)
    rating = await submit(
        employee_id=ops.id,
        department_id=ops.department_id,
        step_key="pack",
        answers={"csat": 4},
        clock=clock,
    )
    row = await SelfRating.select().first()
    assert row is not None and rating.round_id == row["round"]
    now = datetime.now(UTC)
    with pytest.raises(Exception):  # noqa: B017 - the engines raise different classes
        await SelfRating.insert(
            SelfRating(
                round=row["round"],
                step=row["step"],
                employee=row["employee"],
                department=row["department"],
                created_at=now,
                updated_at=now,
            )
        )
    assert await SelfRating.count() == 1


async def test_erasure_removes_answers_and_tallies_go_down(org):
    clock = Clock()
    a = await make_employee(1, "ops")
    b = await make_employee(2, "ops")
    await open_round(clock)
    for person, score in ((a, 4), (b, 2)):
        for step, answers in (("pack", {"csat": score}), ("ship", {"ease": score, "nps": 7})):
            await submit(
                employee_id=person.id,
                department_id=person.department_id,
                step_key=step,
                answers=answers,
                comment="mine",
                clock=clock,
            )
    before = sum((await employee_tallies()).values())
    assert before == 6
    assert await erase_mine(a.id, step_key="ship", clock=clock) == 1
    assert sum((await employee_tallies()).values()) == 4
    assert await erase_mine(a.id, clock=clock) == 1
    assert sum((await employee_tallies()).values()) == 3
    assert await my_ratings(a.id, clock=clock) == []
    assert len(await my_ratings(b.id, clock=clock)) == 2
    assert await tallies.stored() == await tallies.recompute()
    # after the round closed nothing is theirs to erase: the published figures cannot move
    clock.advance(days=30)
    assert await erase_mine(b.id, clock=clock) == 0
    assert sum((await employee_tallies()).values()) == 3
    assert await SelfRatingScore.count() == 3
    assert await tallies.stored() == await tallies.recompute()


async def test_ratings_are_kept_per_round(org):
    clock = Clock()
    ops = await make_employee(1, "ops")
    first = await open_round(clock, name="First")
    await submit(
        employee_id=ops.id,
        department_id=ops.department_id,
        step_key="pack",
        answers={"csat": 2},
        clock=clock,
    )
    clock.now = first.ends_at + timedelta(days=1)
    second = await open_round(clock, name="Second")
    await submit(
        employee_id=ops.id,
        department_id=ops.department_id,
        step_key="pack",
        answers={"csat": 5},
        clock=clock,
    )
    counts = await employee_tallies()
    assert {(k[3], k[5]) for k in counts} == {(first.id, 2), (second.id, 5)}
    # the first round closed and was anonymised: only the open round's rating is still theirs
    mine = await my_ratings(ops.id, clock=clock)
    assert [(m.round_name, m.answers["csat"]) for m in mine] == [("Second", 5)]
    closed = await my_closed_rounds(ops.department_id, clock=clock)
    assert [(c.round_name, c.invited, c.answered) for c in closed] == [("First", 1, 1)]


# --- HTTP: the JSON API and the /rate page ----------------------------------------------------


@pytest.fixture
async def web(settings, org):
    """Clients on an app with a test clock, an admin, an executive and five ops employees."""
    from conftest import PASSWORD
    from rating_org import Clients, make_app

    from surveys.accounts import create_user

    clock = Clock()
    await create_user(email="admin@example.com", name="Ada", roles=["admin"], password=PASSWORD)
    await create_user(email="exec@example.com", name="Eve", roles=["executive"], password=PASSWORD)
    employees = [await make_employee(n, "ops") for n in range(1, 6)]
    employees.append(await make_employee(1, "support"))
    pool = Clients(make_app(settings, clock))
    pool.clock = clock
    pool.employees = employees
    yield pool
    await pool.close()


async def test_api_rate_change_and_erase(web):
    await open_round(web.clock, ("ops", "support"))
    me = await web.new("ops1@example.com")
    overview = (await me.get("/api/self-ratings")).json()
    assert overview["open_round"]["name"] == "Winter round"
    assert [s["key"] for s in overview["steps"]] == ["pack", "ship"]
    question = overview["steps"][0]["questions"][0]
    assert question["customer"] == "How satisfied are you with the packaging?"
    assert question["employee"] == "How satisfied are customers with our packaging?"

    body = {"step": "pack", "answers": {"csat": 4}, "comment": "Boxes too big"}
    response = await me.post("/api/self-ratings", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["answers"] == {"csat": 4}
    response = await me.post("/api/self-ratings", json={**body, "answers": {"csat": 2}})
    assert response.status_code == 201
    response = await me.get("/api/self-ratings/mine")
    assert "no-store" in response.headers["cache-control"]
    mine = response.json()
    assert [(m["step"], m["answers"], m["comment"]) for m in mine["ratings"]] == [
        ("pack", {"csat": 2}, "Boxes too big")
    ]
    assert mine["closed_rounds"] == []
    # somebody else sees none of it
    other = await web.new("ops2@example.com")
    assert (await other.get("/api/self-ratings/mine")).json()["ratings"] == []
    assert (await other.delete("/api/self-ratings/mine")).json() == {"erased": 0}
    assert len((await me.get("/api/self-ratings/mine")).json()["ratings"]) == 1

    response = await me.delete("/api/self-ratings/mine")
    assert response.status_code == 200
    assert response.json() == {"erased": 1}
    assert (await me.get("/api/self-ratings/mine")).json()["ratings"] == []
    assert sum((await employee_tallies()).values()) == 0


async def test_api_refusals(web):
    me = await web.new("ops1@example.com")
    response = await me.get("/api/self-ratings/steps/ship")
    assert response.status_code == 200
    assert [q["key"] for q in response.json()["questions"]] == ["ease", "nps"]
    response = await me.get("/api/self-ratings/steps/ticket")
    assert response.status_code == 403
    assert "resolve requests" not in response.text
    assert (await me.get("/api/self-ratings/steps/nope")).status_code == 404
    body = {"step": "pack", "answers": {"csat": 4}}
    response = await me.post("/api/self-ratings", json=body)
    assert response.status_code == 409
    assert response.json()["field"] == "round"
    await open_round(web.clock, ("ops", "support"))
    response = await me.post("/api/self-ratings", json={"step": "ticket", "answers": {"csat": 4}})
    assert response.status_code == 403
    assert response.json()["field"] == "step"
    response = await me.post("/api/self-ratings", json={"step": "ship", "answers": {"ease": 9}})
    assert response.status_code == 422
    assert response.json()["field"] == "ease"
    assert {e["field"] for e in response.json()["errors"]} == {"ease", "nps"}
    response = await me.post("/api/self-ratings", json={"step": "pack"})
    assert response.status_code == 400
    response = await me.post("/api/self-ratings", json={**body, "comment": "x\x00"})
    assert response.status_code == 422
    assert response.json()["field"] == "comment"
    # without the CSRF header a session cannot write
    del me.headers["x-csrftoken"]
    assert (await me.post("/api/self-ratings", json=body)).status_code == 403
    anonymous = await web.new()
    assert (await anonymous.post("/api/self-ratings", json=body)).status_code in (401, 403)
    assert (await anonymous.get("/api/self-ratings/mine")).status_code == 401
    web.clock.advance(days=8)
    me = await web.new("ops1@example.com")
    assert (await me.post("/api/self-ratings", json=body)).status_code == 409
    assert await SelfRating.count() == 0


async def test_rate_page_form_flow(web):
    me = await web.new("ops1@example.com")
    page = await me.get("/rate")
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    assert "No rating round is open" in page.text
    info = await open_round(web.clock)
    page = await me.get("/rate")
    assert "Winter round" in page.text
    # the customer's wording beside the employee's
    assert "How satisfied are customers with our packaging?" in page.text
    assert "Customers are asked: “How satisfied are you with the packaging?”" in page.text
    assert "How satisfied are customers with how we resolve requests?" not in page.text
    assert "<script" not in page.text
    token = me.cookies.get("lp_csrf")
    form = {"_csrf_token": token, "step": "ship", "score.ease": "6", "comment": "ok"}
    response = await me.post("/rate", data=form, headers={"accept": "text/html"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")  # a page, not its source
    assert 'id="error-ship-nps"' in response.text
    assert 'value="6" checked' in response.text  # the given answer is kept
    form["score.nps"] = "9"
    response = await me.post("/rate", data=form, follow_redirects=False)
    assert response.status_code == 303
    page = await me.get(response.headers["location"])
    assert "your rating was saved" in page.text
    assert 'id="rated-ship"' in page.text
    assert 'value="9" checked' in page.text
    mine = await my_ratings(web.employees[0].id, clock=web.clock)
    assert mine[0].answers == {"ease": 6, "nps": 9}
    # another department's step is refused
    form = {"_csrf_token": token, "step": "ticket", "score.csat": "3"}
    response = await me.post("/rate", data=form, headers={"accept": "text/html"})
    assert response.status_code == 403
    # erase from the page
    response = await me.post(
        "/rate/erase", data={"_csrf_token": token, "step": "ship"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert await my_ratings(web.employees[0].id, clock=web.clock) == []
    # after the round closed the page says so and the form is gone
    web.clock.now = info.ends_at
    me = await web.new("ops1@example.com")  # a week on, the session has ended
    page = await me.get("/rate")
    assert "No rating round is open" in page.text
    assert 'action="/rate"' not in page.text


MARKERS = [f"secret-comment-{n}" for n in range(4)]


EMPLOYEE_KEYS = {
    "employee_score",
    "employee_mean",
    "employee_scores",
    "employee_distribution",
    "employee_comments",
    "employee_id",
}


def _walk(value, found: list) -> None:
    """Collect every employee-side value that is not empty (None, [] or {})."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in EMPLOYEE_KEYS and item not in (None, [], {}):
                found.append((key, item))
            _walk(item, found)
    elif isinstance(value, list):
        for item in value:
            _walk(item, found)


async def test_no_aggregate_output_reveals_employee_values_with_four_raters(web):
    """Four raters (below the threshold of 5): every GET route is walked as admin and executive
    and none returns a rating, a comment or an employee-side statistic."""
    info = await open_round(web.clock, ("ops", "support"))
    for n, person in enumerate(web.employees[:4]):
        client = await web.new(person.email)
        for step, answers in (("pack", {"csat": 1 + n}), ("ship", {"ease": 7 - n, "nps": n})):
            body = {"step": step, "answers": answers, "comment": MARKERS[n]}
            assert (await client.post("/api/self-ratings", json=body)).status_code == 201
    web.clock.now = info.ends_at + timedelta(days=1)

    admin = await web.new("admin@example.com")
    executive = await web.new("exec@example.com")
    fills = {
        "round_id": str(info.id),
        "department": "ops",
        "department_key": "ops",
        "key": "ops",
        "step": "pack",
        "step_key": "pack",
    }
    queries = [{"round": info.id}, {"department": "ops"}]
    checked = []
    responses = {}
    for route in web.app.routes:
        if "GET" not in getattr(route, "methods", ()) or route.path.startswith("/static"):
            continue
        path = route.path
        params = [p.strip("{}").split(":")[0] for p in path.split("/") if p.startswith("{")]
        if any(p not in fills for p in params):
            continue
        for p in params:
            path = path.replace(next(s for s in path.split("/") if s.startswith("{" + p)), fills[p])
        for who, query in itertools.product((admin, executive), queries):
            response = await who.get(path, params=query)
            if response.status_code != 200:
                continue
            checked.append(path)
            responses[path] = response
            for marker in MARKERS:
                assert marker.encode() not in response.content, path
            if response.headers.get("content-type", "").startswith("application/json"):
                found: list = []
                _walk(response.json(), found)
                assert found == [], (path, found)
    assert f"/api/rounds/{info.id}/participation" in checked
    assert "/api/rounds" in checked
    assert "/rounds" in checked
    if "/api/gaps" in responses:
        # the dashboards' gap table lists the rated cells, each suppressed (4 < 5 raters)
        rows = [r for r in responses["/api/gaps"].json() if r.get("department") == "ops"]
        assert rows and all(r["suppressed"] and r["employee_score"] is None for r in rows)
    participation = (await admin.get(f"/api/rounds/{info.id}/participation")).json()
    assert participation["departments"][0] == {
        "department": "ops",
        "name": "Operations",
        "invited": 5,
        "answered": 4,
    }
    # the round closed, so even its raters see counts only: their answers are anonymised
    own = await web.new(web.employees[0].email)
    mine = (await own.get("/api/self-ratings/mine")).json()
    assert mine["ratings"] == []
    assert [
        (c["round"], c["anonymised"], c["invited"], c["answered"]) for c in mine["closed_rounds"]
    ] == [(info.id, True, 5, 4)]
    for marker in MARKERS:
        assert marker not in str(mine)
