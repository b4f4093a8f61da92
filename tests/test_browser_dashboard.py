"""An executive logs in, opens a department page in a real browser, and the charts render."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from conftest import PASSWORD
from dashboard_data import TODAY, scenario

from surveys.accounts import create_user

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """uvicorn serving `create_app()` on the test database, in its own process.

    A process, not a thread: on PostgreSQL the tests' pool belongs to the tests' event loop and
    Piccolo's engine is process-wide. The process reads the settings from the environment.
    """
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "listening.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


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
    # The journey map draws the customer line, its band, the employees and the moments of truth.
    traces = await page.locator("#chart-journey .scatterlayer .trace").count()
    assert traces >= 4
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
