"""Property: no output of the system depends on the ratings of a hidden cell.

Hypothesis draws random organisations (departments, two journeys, steps owned by departments,
raters who rate some of their department's steps) and a pair of filtered views. For the views
(the unfiltered one and the pair), everything an executive or an admin key can read is collected:
`/api/gaps` as JSON, CSV and Parquet, the overview and every department page (their tables and
the chart data embedded in them), and the HTML report's content and figures. Then every
hidden cell's employee scores are changed (same raters, other levels) and everything is read
again.

To solve for a hidden cell from any set of figures (a difference of two views, a pooled score
minus the shown cells, a trend point), those figures must change when the hidden cell's ratings
do. They must not change at all, so nothing can be solved. A control then changes one shown
cell and checks the figures do move, so the comparison can see a difference when there is one.
"""

from __future__ import annotations

import difflib
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pprint import pformat
from urllib.parse import urlencode

import httpx
import polars as pl
import pytest
from conftest import ENGINE, all_tables
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from dashboards.filters import parse_filters
from dashboards.report import build_report
from listening.apikeys import create_key
from surveys import tallies
from surveys.journey_file import load_journey
from surveys.tables import (
    Department,
    Question,
    Round,
    RoundDepartment,
    SelfRating,
    SelfRatingScore,
    User,
)
from surveys.tallies import add_counts

ROUND_END = datetime(2026, 11, 1, 12, tzinfo=UTC)
TODAY = date(2026, 11, 20)
VIEW = {"from": "2026-10-01", "to": "2026-12-31"}
HIDDEN = {"too_few_raters", "complementary", "parent_hidden"}
CUSTOMER_SCORES = (1, 2, 3, 4, 5, 2, 4, 3)


@dataclass(frozen=True)
class Org:
    """A drawn organisation: steps (key, journey, department) and who rated what."""

    departments: tuple[str, ...]
    steps: tuple[tuple[str, str, str], ...]
    raters: dict[str, int]  # per department
    ratings: dict[str, dict[int, int]]  # step -> {rater number: score}


@st.composite
def organisations(draw) -> Org:
    """Two or three departments, four to six steps over two journeys, up to nine raters each."""
    departments = tuple(f"d{i}" for i in range(draw(st.integers(2, 3))))
    steps = []
    for i in range(draw(st.integers(4, 6))):
        # every department owns a step and both journeys have one; the rest is drawn
        owner = departments[i] if i < len(departments) else draw(st.sampled_from(departments))
        journey = ("j0", "j1")[i] if i < 2 else draw(st.sampled_from(("j0", "j1")))
        steps.append((f"s{i}", journey, owner))
    raters = {d: draw(st.integers(1, 9)) for d in departments}
    ratings = {}
    for key, _, owner in steps:
        who = draw(st.sets(st.integers(1, raters[owner]), max_size=raters[owner]))
        ratings[key] = {n: draw(st.integers(1, 5)) for n in sorted(who)}
    return Org(departments, tuple(steps), raters, ratings)


def views() -> st.SearchStrategy[dict[str, str]]:
    """One filtered view: a journey, a department, a segment, a period, a comparison, dates."""
    return st.fixed_dictionaries(
        {},
        optional={
            "journey": st.sampled_from(("j0", "j1")),
            "department": st.sampled_from(("d0", "d1")),
            "segment.channel": st.sampled_from(("phone", "web")),
            "period": st.sampled_from(("week", "month")),
            "compare": st.just("previous"),
            "from": st.sampled_from(("2026-10-01", "2026-11-10")),
        },
    )


async def empty_database() -> None:
    """Every table emptied (Hypothesis runs many examples inside one test)."""
    tables = all_tables()
    engine = tables[0]._meta.db
    if ENGINE == "postgresql":
        names = ", ".join(f'"{t._meta.tablename}"' for t in tables)
        await engine.run_ddl(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    else:
        for table in reversed(tables):
            await engine.run_ddl(f'DELETE FROM "{table._meta.tablename}"')


def journey_document(org: Org) -> dict:
    """The drawn organisation as a journey document (one 1–5 rating question per step)."""
    return {
        "departments": [{"key": d, "name": f"Department {d}"} for d in org.departments],
        "journeys": [
            {
                "key": journey,
                "name": f"Journey {journey}",
                "steps": [
                    {
                        "key": key,
                        "name": f"Step {key}",
                        "department": owner,
                        "questions": [
                            {
                                "key": "csat",
                                "kind": "csat",
                                "customer": f"How satisfied are you with {key}?",
                                "employee": f"How satisfied are customers with {key}?",
                            }
                        ],
                    }
                    for key, j, owner in org.steps
                    if j == journey
                ],
            }
            for journey in ("j0", "j1")
            if any(j == journey for _, j, _ in org.steps)
        ],
    }


async def store(org: Org) -> None:
    """The organisation, customers on every step, one ended round and its ratings."""
    from dashboard_data import add_many

    await load_journey(journey_document(org), clock=lambda: ROUND_END - timedelta(days=60))
    specs = []
    for key, _, _ in org.steps:
        for n, score in enumerate(CUSTOMER_SCORES):
            day = TODAY - timedelta(days=3 * n)
            channel = "phone" if n % 2 else "web"
            specs.append((key, "csat", score, day, "invited", {"channel": channel}, None))
    await add_many(specs)
    created = await Round.insert(
        Round(
            name="Autumn",
            starts_at=ROUND_END - timedelta(days=14),
            ends_at=ROUND_END,
            created_at=ROUND_END - timedelta(days=14),
        )
    ).returning(Round.id)
    round_id = created[0]["id"]
    ids = {r["key"]: r["id"] for r in await Department.select(Department.id, Department.key)}
    for department in org.departments:
        await RoundDepartment.insert(RoundDepartment(round=round_id, department=ids[department]))
    users = {}
    for department, count in org.raters.items():
        for n in range(1, count + 1):
            row = await User.insert(
                User(
                    email=f"{department}-{n}@example.com",
                    name=f"Rater {n}",
                    roles="employee",
                    department=ids[department],
                    created_at=ROUND_END - timedelta(days=30),
                )
            ).returning(User.id)
            users[(department, n)] = row[0]["id"]
    questions = {
        r["step"]: (r["step_id"], r["id"])
        for r in await Question.select(
            Question.id,
            Question.survey.step.key.as_alias("step"),
            Question.survey.step.id.as_alias("step_id"),
        )
    }
    counts: Counter = Counter()
    for key, _, owner in org.steps:
        step_id, question_id = questions[key]
        for n, score in org.ratings[key].items():
            rating = await SelfRating.insert(
                SelfRating(
                    round=round_id,
                    step=step_id,
                    employee=users[(owner, n)],
                    department=ids[owner],
                    created_at=ROUND_END - timedelta(days=2),
                    updated_at=ROUND_END - timedelta(days=2),
                )
            ).returning(SelfRating.id)
            await SelfRatingScore.insert(
                SelfRatingScore(rating=rating[0]["id"], question=question_id, score=score)
            )
            counts[(step_id, question_id, "employee", round_id, ROUND_END.date(), score)] += 1
    await add_counts(counts)


async def change_scores(steps: set[str]) -> None:
    """Give every rating of these steps another level (same raters), tallies kept in step."""
    rows = await SelfRatingScore.select(
        SelfRatingScore.id, SelfRatingScore.score, SelfRatingScore.rating.step.key.as_alias("step")
    )
    for row in rows:
        if row["step"] in steps:
            other = 1 if row["score"] >= 3 else 5
            await SelfRatingScore.update({SelfRatingScore.score: other}).where(
                SelfRatingScore.id == row["id"]
            )
    stored, wanted = await tallies.stored(), await tallies.recompute()
    await add_counts(Counter({k: wanted.get(k, 0) - stored.get(k, 0) for k in stored | wanted}))
    assert await tallies.stored() == await tallies.recompute()


def _stable(text: str) -> str:
    """A page without what differs between two identical requests (tokens, nonces)."""
    text = re.sub(r'nonce="[^"]*"', 'nonce=""', text)
    return re.sub(r'(name="_csrf_token" value=")[^"]*"', r'\1"', text)


async def everything(client: httpx.AsyncClient, org: Org, filtered: list[dict]) -> dict:
    """Every output an executive can read for these views, keyed by what it is."""
    found: dict[str, object] = {}
    for params in filtered:
        query = urlencode(sorted(params.items()))
        for path in ("/api/gaps", "/api/gaps.csv", "/dashboards"):
            response = await client.get(path, params=params)
            assert response.status_code == 200, (path, params, response.text)
            found[f"{path}?{query}"] = _stable(response.text)
        response = await client.get("/api/gaps.parquet", params=params)
        assert response.status_code == 200
        found[f"parquet?{query}"] = pl.read_parquet(io.BytesIO(response.content)).to_dicts()
        page_params = {k: v for k, v in params.items() if k != "department"}
        for department in org.departments:
            response = await client.get(f"/dashboards/{department}", params=page_params)
            assert response.status_code == 200, response.text
            found[f"/dashboards/{department}?{query}"] = _stable(response.text)
        filters = parse_filters(page_params, today=TODAY)
        for department in (None, *org.departments):
            report = await build_report(
                filters, department=department, threshold=5, comment_threshold=10
            )
            # the report's data: its context (template helpers aside) and its figures
            data = {k: v for k, v in report.context.items() if not callable(v)}
            found[f"report/{department}?{query}"] = (repr(data), repr(report.figures))
    return found


def first_difference(before: object, after: object) -> str:
    """The first lines where two outputs differ, for the failure message."""
    lines = difflib.unified_diff(
        pformat(before, width=100).splitlines(), pformat(after, width=100).splitlines(), n=1
    )
    return "\n".join(list(lines)[:30])


def hidden_cells(rows: list[dict]) -> tuple[set[str], set[str]]:
    """(hidden, shown) steps of the unfiltered gap table that employees rated."""
    hidden = {r["step"] for r in rows if r["suppression"] in HIDDEN}
    shown = {r["step"] for r in rows if r["suppression"] is None and r["n_employees"]}
    return hidden, shown


@pytest.mark.slow
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(org=organisations(), pair=st.tuples(views(), views()))
async def test_no_output_depends_on_a_hidden_cell(app, org, pair):
    await empty_database()
    await store(org)
    _, key = await create_key("property", "admin")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver.local",
        headers={"authorization": f"Bearer {key}"},
    ) as client:
        filtered = [VIEW, *({**VIEW, **p} for p in pair)]
        rows = (await client.get("/api/gaps", params=VIEW)).json()
        hidden, shown = hidden_cells(rows)
        note(f"hidden {sorted(hidden)}, shown {sorted(shown)}, views {filtered}")
        before = await everything(client, org, filtered)
        if hidden:
            await change_scores(hidden)
            after = await everything(client, org, filtered)
            changed = [name for name in before if before[name] != after[name]]
            assert changed == [], (
                f"these outputs depend on a hidden cell: {changed}\n"
                + first_difference(before[changed[0]], after[changed[0]])
            )
        if shown:
            # the control: a shown cell's change is seen, so the comparison above can fail
            await change_scores({sorted(shown)[0]})
            moved = (await client.get("/api/gaps", params=VIEW)).json()
            assert moved != rows
