"""Closed rounds: figures only from ended rounds, one suppression per round, anonymised ratings.

The first two tests are the two ways through of issue 17, replayed: an open round read live by
erasing and re-rating, and a journey filter undoing complementary suppression.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import httpx
import pytest
from conftest import PASSWORD, login
from dashboard_data import add_ratings, add_responses, add_round, demo_org
from rating_org import NOW, Clock, make_app, make_employee

from dashboards.filters import parse_filters
from dashboards.gaps import overview as overview_view
from listening.worker import run_worker
from surveys import tallies
from surveys.anonymisation import anonymise_ended_rounds, anonymise_round, rounds_due
from surveys.rounds import create_round
from surveys.self_ratings import erase_mine, submit
from surveys.tables import Round, SelfRating, SelfRatingScore, User

VIEW = {"from": "2026-10-01", "to": "2026-12-31"}
EMPLOYEE_FIELDS = ("employee_score", "n_employees", "gap", "suppression", "suppressed")


@pytest.fixture
async def api(settings, admin_key):
    """An admin-key client on an app whose clock the test moves."""
    clock = Clock()
    app = make_app(settings, clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver.local",
        headers={"authorization": f"Bearer {admin_key}"},
    ) as client:
        client.clock = clock
        client.app = app
        yield client


async def employee_rows(client, **params) -> dict:
    """The employee side of every /api/gaps row, by cell."""
    response = await client.get("/api/gaps", params=VIEW | params)
    assert response.status_code == 200, response.text
    return {
        (r["department"], r["step"], r["question"]): {f: r[f] for f in EMPLOYEE_FIELDS}
        for r in response.json()
    }


async def rate(person, step: str, answers: dict, clock: Clock) -> None:
    """One employee rates a step in their department's open round."""
    await submit(
        employee_id=person.id,
        department_id=person.department_id,
        step_key=step,
        answers=answers,
        clock=clock,
    )


async def winter_round(clock: Clock, departments: list[str]):
    """A round that opened an hour ago and runs a week (by the test's clock)."""
    return await create_round(
        name="Winter",
        starts_at=(clock() - timedelta(hours=1)).isoformat(),
        ends_at=(clock() + timedelta(days=7)).isoformat(),
        departments=departments,
        base_url="http://testserver.local",
        clock=clock,
    )


async def test_an_open_round_cannot_be_read_live(dashboard_scenario, api):
    """Way 1: `to` past an open round's end; erasing and re-rating must not move any figure."""
    before = await employee_rows(api, department="support")
    assert before[("support", "reach-support", "effort")]["n_employees"] == 7  # Autumn's round
    info = await winter_round(api.clock, ["support"])
    people = [await make_employee(n, "support") for n in range(1, 8)]
    for n, person in enumerate(people):
        await rate(person, "reach-support", {"effort": 1 + n % 7}, api.clock)
    assert await employee_rows(api, department="support") == before
    assert await erase_mine(people[0].id, clock=api.clock) == 1
    assert await employee_rows(api, department="support") == before
    await rate(people[0], "reach-support", {"effort": 6}, api.clock)
    assert await employee_rows(api, department="support") == before
    # once the round has ended it speaks, with its own raters
    api.clock.now = info.ends_at
    after = await employee_rows(api, department="support")
    assert after != before
    assert after[("support", "reach-support", "effort")]["n_employees"] == 7


async def test_a_journey_filter_cannot_undo_complementary_suppression(api):
    """Way 2: find-product is hidden as the complement of manage-account (3 raters); filtering
    on its journey must not show it, and no pooled score may include a hidden cell."""
    await demo_org()
    for step, question, scores in (
        ("find-product", "effort", [5, 6, 4, 6, 5, 7]),
        ("checkout", "effort", [6, 5, 7, 6]),
        ("manage-account", "easy", [5, 6, 4, 5]),
    ):
        await add_responses(step, question, scores, date(2026, 11, 20))
    round_id = await add_round("Autumn", date(2026, 11, 1), ["shop"])
    await add_ratings(round_id, "shop", "checkout", "effort", [6, 7, 6, 5, 7, 6, 7, 6])
    await add_ratings(round_id, "shop", "find-product", "effort", [5, 6, 6, 7, 5])
    await add_ratings(round_id, "shop", "manage-account", "easy", [6, 7, 6])

    whole = await employee_rows(api, department="shop")
    assert whole[("shop", "manage-account", "easy")]["suppression"] == "too_few_raters"
    assert whole[("shop", "find-product", "effort")]["suppression"] == "complementary"
    checkout = whole[("shop", "checkout", "effort")]
    assert checkout["suppression"] is None and checkout["n_employees"] == 8
    for journey in ("buy-online", "stay"):
        narrowed = await employee_rows(api, department="shop", journey=journey)
        for cell, row in narrowed.items():
            assert row == whole[cell], (journey, cell)
    # the department's pooled score is its shown cell's: nothing of the hidden ones in it
    overview = await api.get("/dashboards", params=VIEW)
    assert overview.status_code == 200
    for journey in (None, "buy-online", "stay"):
        params = VIEW | ({"journey": journey} if journey else {})
        view, _ = await overview_view(parse_filters(params, today=NOW.date()), threshold=5)
        shop = next(r for r in view.departments if r.department == "shop")
        if journey == "stay":
            assert shop.employee_score is None
        else:
            assert shop.employee_score == pytest.approx(checkout["employee_score"])


async def test_erasure_or_account_deletion_after_close_cannot_move_a_figure(
    dashboard_scenario, api
):
    info = await winter_round(api.clock, ["support"])
    people = [await make_employee(n, "support") for n in range(1, 7)]
    for n, person in enumerate(people):
        await rate(person, "reach-support", {"effort": 1 + n}, api.clock)
        await rate(person, "ticket-resolved", {"csat": 1 + n % 5}, api.clock)
    api.clock.now = info.ends_at + timedelta(hours=1)
    published = await employee_rows(api, department="support")
    assert published[("support", "reach-support", "effort")]["n_employees"] == 6
    # the author asks to erase, through the API and the service: nothing is theirs any more
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app), base_url="http://testserver.local"
    ) as own:
        await login(own, people[0].email, PASSWORD)
        mine = (await own.get("/api/self-ratings/mine")).json()
        assert mine["ratings"] == []
        closed = {c["round"]: c for c in mine["closed_rounds"]}
        assert closed[info.id]["anonymised"] and closed[info.id]["answered"] == 6
        assert set(closed[info.id]) == {
            "round",
            "round_name",
            "ends_at",
            "anonymised",
            "department",
            "invited",
            "answered",
        }
        assert (await own.delete("/api/self-ratings/mine")).json() == {"erased": 0}
        page = await own.get("/rate")
        assert "can no longer be shown or changed" in page.text
        assert "confidential" in page.text and "anonymous" not in page.text.lower()
    assert await erase_mine(people[1].id, clock=api.clock) == 0
    # deleting an account does not reach its ratings (nothing links them to it)
    await User.delete().where(User.id.is_in([p.id for p in people[:3]]))
    assert await employee_rows(api, department="support") == published
    assert await tallies.stored() == await tallies.recompute()


async def test_anonymisation_severs_links_keeps_raters_together_and_is_idempotent(db):
    await demo_org()
    clock = Clock()
    info = await winter_round(clock, ["support", "sales"])
    support = [await make_employee(n, "support") for n in range(1, 4)]
    for n, person in enumerate(support):
        await rate(person, "reach-support", {"effort": 2 + n}, clock)
        await rate(person, "ticket-resolved", {"csat": 1 + n}, clock)
    before = await tallies.stored()
    assert await rounds_due(clock=clock) == []
    assert await anonymise_ended_rounds(clock=clock) == 0  # still open: untouched
    assert await SelfRating.count().where(SelfRating.employee.is_null()) == 0

    clock.now = info.ends_at
    assert await rounds_due(clock=clock) == [info.id]
    # two processes at once: one rewrites, the other finds nothing left to do
    done = await asyncio.gather(
        anonymise_round(info.id, clock=clock), anonymise_round(info.id, clock=clock)
    )
    assert sorted(done) == [0, 6]
    assert await anonymise_ended_rounds(clock=clock) == 0
    assert await rounds_due(clock=clock) == []
    rows = await SelfRating.select()
    assert len(rows) == 6
    assert all(r["employee"] is None and len(r["rater"]) == 32 for r in rows)
    assert all(r["created_at"] == info.ends_at == r["updated_at"] for r in rows)
    by_rater: dict[str, list[int]] = {}
    for r in rows:
        by_rater.setdefault(r["rater"], []).append(r["step"])
    assert sorted(len(steps) for steps in by_rater.values()) == [2, 2, 2]  # one rater, two steps
    assert await SelfRatingScore.count() == 6
    assert await tallies.stored() == before == await tallies.recompute()
    marked = await Round.select(Round.anonymised_at).where(Round.id == info.id).first()
    assert marked["anonymised_at"] is not None

    # the same people in the next round get new pseudonyms
    clock.now = info.ends_at + timedelta(days=1)
    second = await winter_round(clock, ["support"])
    await rate(support[0], "reach-support", {"effort": 7}, clock)
    await rate(support[0], "ticket-resolved", {"csat": 5}, clock)
    clock.now = second.ends_at
    assert await anonymise_ended_rounds(clock=clock) == 2
    second_raters = {
        r["rater"] for r in await SelfRating.select().where(SelfRating.round == second.id)
    }
    assert len(second_raters) == 1 and not second_raters & set(by_rater)


async def test_worker_loop_anonymises_rounds_that_ended(settings):
    await demo_org()
    clock = Clock()
    info = await winter_round(clock, ["support"])
    person = await make_employee(1, "support")
    await rate(person, "reach-support", {"effort": 4}, clock)
    clock.now = info.ends_at + timedelta(minutes=1)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(settings, base_url="http://testserver.local", clock=clock, stop=stop)
    )
    try:
        for _ in range(100):
            if await SelfRating.count().where(SelfRating.employee.is_not_null()) == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
    rows = await SelfRating.select(SelfRating.employee, SelfRating.rater)
    assert rows[0]["employee"] is None and rows[0]["rater"]


async def test_erasure_before_the_round_ends_still_works(db):
    await demo_org()
    clock = Clock(NOW)
    await winter_round(clock, ["support"])
    person = await make_employee(1, "support")
    await rate(person, "reach-support", {"effort": 4}, clock)
    assert await erase_mine(person.id, clock=clock) == 1
    assert await SelfRating.count() == 0
    assert sum(v for k, v in (await tallies.stored()).items() if k[2] == "employee") == 0
