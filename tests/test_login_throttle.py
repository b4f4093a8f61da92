"""Login throttling: LISTENING_PUBLIC_RATE_LIMIT attempts a minute per account and per address,
429 with Retry-After, held across several server processes that share Redis."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import time

import httpx
from conftest import PASSWORD
from live_server import LiveServer

from listening.app import create_app
from surveys.accounts import create_user

REDIS_URL = "redis://127.0.0.1:6379/0"


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
        assert 1 <= int(answer.headers["retry-after"]) <= 60
    return answer.status_code


def _fresh_window(margin: float = 15.0) -> None:
    """Start where a one-minute window has time left, so no count resets midway."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.5)


async def test_guesses_from_rotating_addresses_are_throttled_per_account(settings, admin_user):
    limited = dataclasses.replace(settings, public_rate_limit=3, trusted_proxies=("127.0.0.1",))
    app = create_app(limited, manage_pool=False)
    other = await create_user(
        email="other@example.com", name="Other", roles=["executive"], password=PASSWORD
    )
    transport = httpx.ASGITransport(app=app)
    _fresh_window(margin=5.0)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        spellings = ["admin@example.com", " Admin@Example.com", "ADMIN@EXAMPLE.COM "]
        guesses = [
            await _attempt(c, spelling, "wrong password", f"198.51.100.{n}")
            for n, spelling in enumerate(spellings)
        ]
        # Over the limit even the right password is refused: guessing stops paying off.
        throttled = await _attempt(c, "admin@example.com", PASSWORD, "198.51.100.99")
        # Another account is not held back by the first one's limit.
        others = await _attempt(c, other.email, PASSWORD, "198.51.100.100")
    assert guesses == [401, 401, 401]
    assert throttled == 429
    assert others == 303


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
                    for n in range(6)
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
        for pattern in (f"lp:rl:login:{net}.*", f"lp:rl:login-account:{digest}:*"):
            async for key in redis.scan_iter(match=pattern):
                await redis.delete(key)
        await redis.aclose()
    assert per_account == [401, 401, 401, 401, 429, 429]
    assert per_address == [401, 401, 401, 401, 429, 429]
