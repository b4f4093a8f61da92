"""The demo's story, checked by the statistics engine on what the real services stored."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from conftest import all_tables

from dashboards.stats import perception_gap
from listening.demo.build import DEMO_PASSWORD, JOURNEY_FILE
from listening.demo.simulate import simulate
from listening.ingest.ingestor import close_ingestors
from listening.journeys import load_journey_file
from listening.tables import Event
from surveys.accounts import create_user
from surveys.scales import scale_of
from surveys.tables import Answer, Response, SelfRating, Tally

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)


async def _run(settings, months: int, seed: int = 3):
    await load_journey_file(JOURNEY_FILE)
    admin = await create_user(
        email="admin@demo.example", name="A", roles=["admin"], password=DEMO_PASSWORD
    )
    try:
        return await simulate(
            seed=seed,
            size="small",
            secret_key=settings.secret_key,
            base_url="http://127.0.0.1:8000",
            password=DEMO_PASSWORD,
            admin_id=admin.id,
            now=NOW,
            months=months,
        )
    finally:
        await close_ingestors()


async def _scores(by: str = "department") -> dict[str, tuple[list[int], list[int]]]:
    """Per department (or step): customer and latest-round employee scores on 0–100."""
    rows = await Tally.select(
        Tally.source,
        Tally.level,
        Tally.count,
        Tally.round_id,
        Tally.step.department.key.as_alias("department"),
        Tally.step.key.as_alias("step_key"),
        Tally.question.kind.as_alias("kind"),
    )
    latest_round = max(r["round_id"] for r in rows)
    out: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for r in rows:
        low, high = scale_of(r["kind"])
        value = round(100 * (r["level"] - low) / (high - low))
        if r["source"] == "customer":
            out[r[by]][0].extend([value] * r["count"])
        elif r["source"] == "employee" and r["round_id"] == latest_round:
            out[r[by]][1].extend([value] * r["count"])
    return out


async def test_demo_tells_its_story_through_the_real_services(settings):
    stats = await _run(settings, months=2)
    assert stats.events == await Event.count()
    assert stats.responses > 300 and stats.one_click > 0 and stats.unsolicited > 0
    # Two months hold one round: the demo rates every quarter, from its first month.
    assert stats.rounds == 1 and stats.self_ratings > 0 and stats.follow_ups_closed > 0
    assert await Response.count().where(Response.source == "unsolicited") == stats.unsolicited
    scores = await _scores()
    gaps = {
        department: perception_gap(customers, employees, scale=(0, 100), rng=1, n_resamples=999)
        for department, (customers, employees) in scores.items()
    }
    assert gaps["logistics"].gap > 15 and gaps["logistics"].pvalue < 0.05
    assert abs(gaps["support"].gap) < 10
    # Marketing has three employees: below the anonymity threshold, so its steps show nothing.
    steps = await _scores(by="step_key")
    for step in ("see-offer", "newsletter"):
        customers, employees = steps[step]
        result = perception_gap(customers, employees, scale=(0, 100), rng=1, n_resamples=999)
        assert result.suppressed and result.gap is None
    raters = await SelfRating.select(SelfRating.step.key.as_alias("step"), SelfRating.round)
    per_cell: dict[tuple, int] = defaultdict(int)
    for r in raters:
        per_cell[(r["step"], r["round"])] += 1
    assert 0 < max(n for (step, _), n in per_cell.items() if step == "newsletter") < 5


async def test_shop_gap_closes_over_the_months(settings):
    await _run(settings, months=3, seed=5)
    answers = await Answer.select(
        Answer.score,
        Answer.response.submitted_at.as_alias("at"),
        Answer.question.kind.as_alias("kind"),
    ).where(Answer.response.step.department.key == "shop", Answer.score.is_not_null())
    answers.sort(key=lambda a: a["at"])
    third = len(answers) // 3
    assert third > 30

    def mean(part: list[dict]) -> float:
        values = [
            100
            * (a["score"] - scale_of(a["kind"])[0])
            / (scale_of(a["kind"])[1] - scale_of(a["kind"])[0])
            for a in part
        ]
        return sum(values) / len(values)

    assert mean(answers[-third:]) - mean(answers[:third]) > 10


async def test_same_seed_gives_the_same_history(settings):
    first = await _run(settings, months=1, seed=11)
    counts_first = await _step_counts()
    for table in reversed(all_tables()):
        await table.delete(force=True)
    second = await _run(settings, months=1, seed=11)
    assert first == second
    assert await _step_counts() == counts_first


async def _step_counts() -> dict[str, int]:
    rows = await Response.select(Response.step.key.as_alias("step"))
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r["step"]] += 1
    return dict(counts)
