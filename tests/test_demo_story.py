"""The demo tells the story getting-started.md tells, for any seed: read through the API.

| Department | What the default view shows |
| --- | --- |
| Logistics | a large, clear gap, first in Where to act |
| Customer Support | no clear gap |
| Online Shop | a gap that closes: its trend is clear ("closing by about 3 points a week") |
| Sales | hidden by complementary suppression |
| Marketing | suppressed: below the anonymity threshold |

The app runs on a clock standing at the demo's end, so every request reads the default view
(the 90 days up to that day, weekly trends, the running week left out) as its user would.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import msgspec
import pytest

from dashboards import focus
from dashboards.rows import GapRecord
from listening.apikeys import create_key
from listening.app import create_app
from listening.demo.build import DEMO_PASSWORD, JOURNEY_FILE
from listening.demo.simulate import simulate
from listening.ingest.ingestor import close_ingestors
from listening.journeys import load_journey_file
from surveys.accounts import create_user

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize("seed", [7, 11, 2027])
async def test_the_demo_tells_its_story_for_every_seed(seed, settings):
    await load_journey_file(JOURNEY_FILE)
    admin = await create_user(
        email="admin@demo.example", name="A", roles=["admin"], password=DEMO_PASSWORD
    )
    try:
        await simulate(
            seed=seed,
            size="small",
            secret_key=settings.secret_key,
            base_url="http://127.0.0.1:8000",
            password=DEMO_PASSWORD,
            admin_id=admin.id,
            now=NOW,
        )
    finally:
        await close_ingestors()

    _, key = await create_key("story", "admin")
    app = create_app(settings, clock=lambda: NOW, manage_pool=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver.local",
        headers={"authorization": f"Bearer {key}"},
    ) as api:
        departments = {
            r["department"]: r
            for r in (await api.get("/api/gaps", params={"level": "department"})).json()
        }
        cells = (await api.get("/api/gaps")).json()
        items = (await api.get("/api/focus")).json()
        page = await api.get("/dashboards", headers={"accept": "text/html"})
    logistics, support, shop = departments["logistics"], departments["support"], departments["shop"]
    assert logistics["suppression"] is None and logistics["gap"] >= 15, logistics
    assert focus.verdict_of(msgspec.convert(logistics, GapRecord)) == focus.CLEAR, logistics
    assert support["suppression"] is None and abs(support["gap"]) < 8, support
    assert focus.verdict_of(msgspec.convert(support, GapRecord)) != focus.CLEAR, support
    assert shop["suppression"] is None and shop["gap"] > 0, shop
    assert departments["sales"]["suppression"] == "complementary"
    assert departments["marketing"]["suppression"] == "too_few_raters"
    for hidden in ("sales", "marketing"):
        assert departments[hidden]["gap"] is None and departments[hidden]["employee_score"] is None

    # Online Shop's gap closes: its weekly trend (weeks compared within a rating round) is
    # clear, and the overview says so in its own words.
    assert page.status_code == 200
    row = re.search(r'<tr[^>]*data-department="shop".*?</tr>', page.text, re.S)
    assert row, "the overview has a row for the Online Shop"
    trend = re.search(r'title="Theil–Sen slope ([^"]*)">([^<]*)<', row.group(0))
    assert trend and trend.group(2).startswith("closing by about "), row.group(0)
    p_value = re.search(r"p (=|&lt;) ([\d.]+)", trend.group(1))
    assert p_value and float(p_value.group(2)) < 0.05, trend.group(1)

    assert all(c["gap"] is None for c in cells if c["department"] in ("sales", "marketing"))
    assert all(c["gap"] > 0 for c in cells if c["department"] == "logistics")

    assert items[0]["department"] == "logistics" and items[0]["verdict"] == focus.CLEAR
    assert not {i["department"] for i in items} & {"sales", "marketing"}
