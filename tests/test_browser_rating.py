"""An employee logs in and rates two steps in a real browser: phone-sized, JavaScript off,
the second step by keyboard only."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import PASSWORD
from rating_org import load_org, make_employee

from surveys.rounds import create_round
from surveys.self_ratings import my_ratings
from surveys.tables import SelfRating

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
    """A real uvicorn serving `create_app()` on the test database.

    A separate process rather than a thread: on PostgreSQL the tests' connection pool belongs to
    the tests' event loop, and Piccolo's engine is process-wide, so a server thread would share
    (and break) it. The process reads the same settings from the environment.
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
        deadline = time.monotonic() + 90  # generous: CI machines run several suites at once
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


async def test_employee_logs_in_and_rates_two_steps(server, browser, db, tmp_root):
    await load_org()
    employee = await make_employee(1, "ops")
    now = datetime.now(UTC)
    await create_round(
        name="Winter round",
        starts_at=(now - timedelta(hours=1)).isoformat(),
        ends_at=(now + timedelta(days=7)).isoformat(),
        departments=["ops"],
        base_url=server,
    )
    context = await browser.new_context(
        java_script_enabled=False, viewport={"width": 360, "height": 740}
    )
    page = await context.new_page()

    # The emailed link leads to the login form, then back to /rate.
    await page.goto(f"{server}/rate")
    assert "/login" in page.url
    await page.fill("#email", employee.email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    assert page.url.endswith("/rate")
    assert await page.locator("h1").inner_text() == "Rate my steps"
    assert await page.locator("section.step").count() == 2  # pack and ship, not sales' quote
    assert (
        "How satisfied are you with the packaging?" in await page.locator("#step-pack").inner_text()
    )

    # Phone layout: nothing wider than the screen, every scale target at least 44 px.
    assert (await page.locator("body").bounding_box())["width"] <= 360
    for label in await page.locator(".scale label").all():
        box = await label.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360

    # The end labels are there for screen readers, not drawn inside the buttons.
    hidden_label = page.locator("label[for=pack-csat-1] .sr-only")
    assert (await hidden_label.inner_text()).strip() == "(Very dissatisfied)"
    assert (await hidden_label.bounding_box())["width"] <= 1

    # Step one, by pointer: packaging 4, with a comment.
    await page.locator("label[for=pack-csat-4]").click()
    await page.fill("#comment-pack", "Boxes are too big for small items")
    await page.locator("#step-pack form[action='/rate'] button[type=submit]").click()
    assert "saved=pack" in page.url
    assert "your rating was saved" in await page.locator("#notice").inner_text()
    assert await page.locator("#pack-csat-4").is_checked()

    # Step two, by keyboard only: focus the first level of the effort scale, move with arrows.
    await page.locator("#ship-ease-1").focus()
    for _ in range(5):
        await page.keyboard.press("ArrowRight")  # 1 -> 6
    assert await page.locator("#ship-ease-6").is_checked()
    await page.keyboard.press("Tab")  # into the NPS scale
    assert await page.locator("#ship-nps-0").evaluate("e => e === document.activeElement")
    await page.keyboard.press("Space")
    for _ in range(9):
        await page.keyboard.press("ArrowRight")  # 0 -> 9
    await page.keyboard.press("Tab")  # the comment
    await page.keyboard.type("Couriers are late on Fridays")
    await page.keyboard.press("Tab")  # the save button
    focused = await page.evaluate("document.activeElement.textContent")
    assert focused == "Save my rating of “Your order arrives”"
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert "saved=ship" in page.url
    assert await page.locator("#rated-ship").count() == 1
    assert await page.locator("#ship-nps-9").is_checked()
    await page.screenshot(path=str(tmp_root / "rate-two-steps.png"), full_page=True)

    # Both ratings are stored, once each, for this employee and round.
    assert await SelfRating.count() == 2
    mine = {m.step: m for m in await my_ratings(employee.id)}
    assert mine["pack"].answers == {"csat": 4}
    assert mine["pack"].comment == "Boxes are too big for small items"
    assert mine["ship"].answers == {"ease": 6, "nps": 9}
    assert mine["ship"].comment == "Couriers are late on Fridays"
    await context.close()
