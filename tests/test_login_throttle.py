"""Login throttling: per address LISTENING_PUBLIC_RATE_LIMIT attempts a minute; per account a
wait that doubles with each wrong password, from which the owner's browser (a signed device
cookie) is exempt; 429 with Retry-After, held across server processes that share Redis."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import time

import httpx
from conftest import PASSWORD
from live_server import LiveServer
from rating_org import Clock

from listening.app import create_app
from listening.login_throttle import DEVICE_COOKIE, DEVICE_FAILURES, FREE_FAILURES, delay_after
from surveys.accounts import create_user

REDIS_URL = "redis://127.0.0.1:6379/0"
BASE = "http://testserver.local"


async def _attempt(client: httpx.AsyncClient, email: str, password: str, address: str) -> int:
    """One login through the real form, from `address` (behind the trusted proxy)."""
    headers = {"x-forwarded-for": address}
    page = await client.get("/login", headers=headers)
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    answer = await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf_token": csrf},
        headers=headers,
        follow_redirects=False,
    )
    if answer.status_code == 429:
        assert 1 <= int(answer.headers["retry-after"]) <= 900
        client.last_retry_after = int(answer.headers["retry-after"])
    return answer.status_code


def _fresh_window(margin: float = 15.0) -> None:
    """Start where a one-minute window has time left, so no count resets midway."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.5)


def _app(settings, clock):
    limited = dataclasses.replace(settings, public_rate_limit=1000, trusted_proxies=("127.0.0.1",))
    return create_app(limited, clock=clock, manage_pool=False)


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


async def test_guesses_from_rotating_addresses_slow_the_account_progressively(settings, admin_user):
    clock = Clock()
    app = _app(settings, clock)
    other = await create_user(
        email="other@example.com", name="Other", roles=["executive"], password=PASSWORD
    )
    async with _client(app) as c:
        spellings = ["admin@example.com", " Admin@Example.com", "ADMIN@EXAMPLE.COM "]
        guesses = [
            await _attempt(c, spellings[n % 3], "wrong password", f"198.51.100.{n}")
            for n in range(FREE_FAILURES)
        ]
        assert guesses == [401] * FREE_FAILURES
        # A fresh address gets no free guess, and even the right password waits.
        assert await _attempt(c, "admin@example.com", PASSWORD, "198.51.100.99") == 429
        assert c.last_retry_after == 30
        # Another account is not held back by the first one's failures.
        assert await _attempt(c, other.email, PASSWORD, "198.51.100.100") == 303
        clock.advance(seconds=30)
        assert await _attempt(c, "admin@example.com", "wrong again", "198.51.100.101") == 401
        # Each further failure doubles the wait: slowed, never locked out.
        assert await _attempt(c, "admin@example.com", PASSWORD, "198.51.100.102") == 429
        assert c.last_retry_after == 60
        clock.advance(seconds=59)
        assert await _attempt(c, "admin@example.com", PASSWORD, "198.51.100.103") == 429
        clock.advance(seconds=1)
        assert await _attempt(c, "admin@example.com", PASSWORD, "198.51.100.104") == 303
        # A successful login forgets the failures.
        assert await _attempt(c, "admin@example.com", "typo", "198.51.100.105") == 401
        assert await _attempt(c, "admin@example.com", PASSWORD, "198.51.100.106") == 303


def test_the_wait_doubles_up_to_a_ceiling():
    waits = [delay_after(n) for n in range(FREE_FAILURES + 8)]
    assert waits[:FREE_FAILURES] == [0.0] * FREE_FAILURES
    assert waits[FREE_FAILURES : FREE_FAILURES + 6] == [30, 60, 120, 240, 480, 900]
    assert max(waits) == 900


async def test_the_owners_browser_is_exempt_from_the_accounts_throttle(settings, admin_user):
    clock = Clock()
    app = _app(settings, clock)
    await create_user(
        email="mallory@example.com", name="Mallory", roles=["executive"], password=PASSWORD
    )
    async with _client(app) as owner, _client(app) as stranger:
        assert await _attempt(owner, admin_user.email, PASSWORD, "203.0.113.1") == 303
        device = owner.cookies.get(DEVICE_COOKIE)
        assert device and admin_user.email not in device
        for n in range(FREE_FAILURES + 3):
            await _attempt(stranger, admin_user.email, "guess", f"198.51.100.{n}")
        assert await _attempt(stranger, admin_user.email, PASSWORD, "198.51.100.50") == 429
        # The stranger cannot lock the owner out: the owner's browser logs in at once,
        # even after a typo (counted against that browser only).
        await owner.post("/logout", headers={"x-csrftoken": owner.cookies["lp_csrf"]})
        assert await _attempt(owner, admin_user.email, "typo", "203.0.113.1") == 401
        assert await _attempt(owner, admin_user.email, PASSWORD, "203.0.113.1") == 303
        # A device cookie of another account, or a forged one, exempts nothing.
        assert await _attempt(stranger, "mallory@example.com", PASSWORD, "198.51.100.60") == 303
        assert await _attempt(stranger, admin_user.email, PASSWORD, "198.51.100.61") == 429
        forged = owner.cookies.get(DEVICE_COOKIE)[:-4] + "0000"
        stranger.cookies.set(DEVICE_COOKIE, forged, domain="testserver.local", path="/login")
        assert await _attempt(stranger, admin_user.email, PASSWORD, "198.51.100.62") == 429
        # A stolen device cookie is held to its own count of wrong passwords.
        thief = _client(app)
        thief.cookies.set(
            DEVICE_COOKIE,
            owner.cookies.get(DEVICE_COOKIE),
            domain="testserver.local",
            path="/login",
        )
        async with thief:
            codes = [
                await _attempt(thief, admin_user.email, f"guess {n}", "198.51.100.70")
                for n in range(DEVICE_FAILURES + 1)
            ]
        assert codes == [401] * DEVICE_FAILURES + [429]


async def test_login_limits_hold_across_two_server_processes_sharing_redis(db, tmp_root):
    from redis.asyncio import Redis

    run = secrets.token_hex(4)
    email = f"target-{run}@example.com"
    await create_user(email=email, name="Target", roles=["executive"], password=PASSWORD)
    env = {
        "LISTENING_REDIS_URL": REDIS_URL,
        "LISTENING_PUBLIC_RATE_LIMIT": "4",
        "LISTENING_TRUSTED_PROXIES": "127.0.0.1",
    }
    # Fresh addresses per run: counters live in Redis for the rest of the minute.
    net = f"100.{64 + secrets.randbelow(60)}.{secrets.randbelow(250)}"
    first = LiveServer(tmp_root / f"throttle-a-{run}.log", env=env).start()
    try:
        second = LiveServer(tmp_root / f"throttle-b-{run}.log", env=env).start()
        try:
            _fresh_window()
            async with (
                httpx.AsyncClient(base_url=first.url, timeout=60) as a,
                httpx.AsyncClient(base_url=second.url, timeout=60) as b,
            ):
                servers = [a, b]
                # One account, a new address every time, alternating between the processes.
                per_account = [
                    await _attempt(servers[n % 2], email, "guess", f"{net}.{n + 1}")
                    for n in range(FREE_FAILURES + 2)
                ]
                # One address, a new account name every time, alternating too.
                address = f"{net}.200"
                per_address = [
                    await _attempt(servers[n % 2], f"nobody-{run}-{n}@example.com", "x", address)
                    for n in range(6)
                ]
        finally:
            second.stop()
    finally:
        first.stop()
        redis = Redis.from_url(REDIS_URL)
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        for pattern in (f"lp:rl:login:{net}.*", f"lp:login:account:{digest}"):
            async for key in redis.scan_iter(match=pattern):
                await redis.delete(key)
        await redis.aclose()
    assert per_account == [401] * FREE_FAILURES + [429, 429]
    assert per_address == [401, 401, 401, 401, 429, 429]
