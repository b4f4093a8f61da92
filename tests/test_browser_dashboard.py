"""An executive logs in, opens a department page in a real browser, and the charts render."""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from dashboard_data import TODAY, scenario

from surveys.accounts import create_user

pytestmark = pytest.mark.browser


async def test_executive_opens_a_department_and_the_charts_render(server, browser, db, tmp_path):
    await scenario(days=30)
    await create_user(
        email="exec@example.com", name="Eve Executive", roles=["executive"], password=PASSWORD
    )
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    failed: list[str] = []
    page.on(
        "response",
        lambda response: (
            failed.append(response.url)
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None
        ),
    )
    outside: list[str] = []
    page.on(
        "request",
        lambda request: outside.append(request.url) if not request.url.startswith(server) else None,
    )

    await page.goto(f"{server}/dashboards")
    assert "/login" in page.url
    await page.fill("#email", "exec@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    assert "/dashboards" in page.url
    await page.wait_for_selector("#chart-departments .main-svg")
    assert "Employees rate their steps" in await page.locator("#headline").inner_text()

    await page.goto(f"{server}/dashboards/shop?from=2026-10-20&to={TODAY.isoformat()}")
    for chart in ("journey", "gaps", "distribution", "trend"):
        await page.wait_for_selector(f"#chart-{chart} .main-svg", timeout=15000)
        assert await page.locator(f"#chart-{chart}").get_attribute("data-drawn") == "true"
    # The journey map draws customers and the team, each with interval whiskers, and the
    # moments of truth.
    traces = await page.locator("#chart-journey .scatterlayer .trace").count()
    assert traces >= 3
    assert await page.locator("#chart-journey .errorbar").count() >= 2
    bars = await page.locator("#chart-gaps .barlayer .point").count()
    assert bars == 2  # checkout and find-product; manage-account has no employee ratings
    shot = tmp_path / "department-shop.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert errors == [], errors  # no JavaScript error (a CSP refusal would show here too)
    assert failed == [], failed
    assert outside == [], outside  # plotly.js and everything else from our own server

    # Without JavaScript the same page still carries the numbers in tables.
    quiet = await browser.new_context(java_script_enabled=False)
    await quiet.add_cookies(await context.cookies())
    bare = await quiet.new_page()
    await bare.goto(f"{server}/dashboards/shop?from=2026-10-20&to={TODAY.isoformat()}")
    assert await bare.locator("#step-table tbody tr").count() == 3
    assert await bare.locator(".main-svg").count() == 0
    await quiet.close()
    await context.close()
