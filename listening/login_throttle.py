"""Login throttling per account that slows guessing without locking the owner out (OWASP's
"device cookies").

- A browser that logged in to an account successfully holds a signed device cookie naming that
  account. Its attempts on that account are not slowed; its wrong passwords count against the
  cookie alone, and after DEVICE_FAILURES of them the cookie loses that standing.
- Every other attempt on the account (whatever the address it comes from, so fresh addresses
  get no free guesses) counts against the account: after FREE_FAILURES wrong passwords, each
  further attempt must wait FIRST_DELAY seconds after the last failure, doubling with each
  failure up to MAX_DELAY, and answers 429 with Retry-After before then. A stranger can slow
  the account's untrusted logins, never its owner's usual browser.
- Failures are forgotten FAILURE_MEMORY after the last one, and at a successful login counted
  under the same key.

Counts live in Redis when LISTENING_REDIS_URL is set (shared by every server process), else in
the process's memory. Times come from the app's clock. Per-address limits stay in
`listening.rate_limit`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from dataclasses import dataclass

from litestar.datastructures import Cookie
from litestar.exceptions import TooManyRequestsException

from listening.settings import Settings

log = logging.getLogger(__name__)

DEVICE_COOKIE = "lp_device"
DEVICE_COOKIE_SECONDS = 365 * 24 * 3600
FREE_FAILURES = 5
DEVICE_FAILURES = 10
FIRST_DELAY = 30.0
MAX_DELAY = 900.0
FAILURE_MEMORY = 24 * 3600


@dataclass(frozen=True)
class Failures:
    """Wrong passwords counted under one key, and when the last came (epoch seconds)."""

    count: int = 0
    last: float = 0.0


class MemoryFailures:
    """Failure counts in this process's memory."""

    def __init__(self) -> None:
        self._seen: dict[str, Failures] = {}

    async def get(self, key: str, now: float) -> Failures:
        """The failures under `key` not yet forgotten."""
        found = self._seen.get(key)
        if found is None or now - found.last > FAILURE_MEMORY:
            return Failures()
        return found

    async def add(self, key: str, now: float) -> None:
        """Count one failure under `key`."""
        if len(self._seen) > 100_000:  # strangers' keys must not grow memory without end
            self._seen = {k: v for k, v in self._seen.items() if now - v.last <= FAILURE_MEMORY}
        self._seen[key] = Failures((await self.get(key, now)).count + 1, now)

    async def clear(self, key: str) -> None:
        """Forget the failures under `key`."""
        self._seen.pop(key, None)

    def reset(self) -> None:
        """Forget every count (tests share one app and start each test with no history)."""
        self._seen.clear()

    async def close(self) -> None:
        """Nothing to release."""


class RedisFailures:
    """Failure counts in Redis, shared by every server process."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)

    async def get(self, key: str, now: float) -> Failures:
        """The failures under `key` (Redis forgets them by expiry)."""
        try:
            count, last = await self._redis.hmget(f"lp:login:{key}", ["count", "last"])
        except Exception as exc:
            # A throttle outage must not stop people logging in.
            log.warning("login throttle store unavailable: %s", exc)
            return Failures()
        return Failures(int(count or 0), float(last or 0.0))

    async def add(self, key: str, now: float) -> None:
        """Count one failure under `key`, atomically across processes."""
        name = f"lp:login:{key}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(name, "count", 1)
                pipe.hset(name, "last", now)
                pipe.expire(name, FAILURE_MEMORY)
                await pipe.execute()
        except Exception as exc:
            log.warning("login throttle store unavailable: %s", exc)

    async def clear(self, key: str) -> None:
        """Forget the failures under `key`."""
        try:
            await self._redis.delete(f"lp:login:{key}")
        except Exception as exc:
            log.warning("login throttle store unavailable: %s", exc)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def account_digest(email: str) -> str:
    """The account's key in the throttle: emails are normalised as accounts store them, hashed."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def delay_after(failures: int) -> float:
    """Seconds an untrusted attempt waits after the last failure, given the failures so far."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(FIRST_DELAY * 2 ** (failures - FREE_FAILURES), MAX_DELAY)


class LoginThrottle:
    """Decides whether a login attempt may be checked now, and records its outcome."""

    def __init__(self, settings: Settings) -> None:
        self._key = hashlib.sha256(b"device-cookie:" + settings.secret_key.encode()).digest()
        self._secure = settings.secure_cookies
        self.failures = (
            RedisFailures(settings.redis_url) if settings.redis_url else MemoryFailures()
        )

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def device_cookie(self, email: str) -> Cookie:
        """A new device cookie for a browser that just logged in to this account."""
        payload = f"{account_digest(email)}.{secrets.token_urlsafe(16)}"
        return Cookie(
            key=DEVICE_COOKIE,
            value=f"{payload}.{self._sign(payload)}",
            max_age=DEVICE_COOKIE_SECONDS,
            path="/login",
            httponly=True,
            secure=self._secure,
            samesite="lax",
        )

    def device(self, cookie: str | None, email: str) -> str | None:
        """The device's id when the cookie is genuine and names this account, else None."""
        if not cookie:
            return None
        payload, _, signature = cookie.rpartition(".")
        digest, _, nonce = payload.partition(".")
        if not nonce or not hmac.compare_digest(self._sign(payload), signature):
            return None
        return nonce if hmac.compare_digest(digest, account_digest(email)) else None

    async def _trusted(self, device: str | None, now: float) -> bool:
        if device is None:
            return False
        return (await self.failures.get(f"device:{device}", now)).count < DEVICE_FAILURES

    async def check(self, email: str, device: str | None, now: float) -> None:
        """Let the attempt through, or refuse it with 429 and Retry-After while it must wait."""
        if await self._trusted(device, now):
            return
        seen = await self.failures.get(f"account:{account_digest(email)}", now)
        wait = delay_after(seen.count) - (now - seen.last)
        if wait > 0:
            raise TooManyRequestsException(
                "Too many wrong passwords for this account: please wait and try again.",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

    async def failed(self, email: str, device: str | None, now: float) -> None:
        """Count a wrong password: against the device when it is trusted, else the account."""
        if await self._trusted(device, now):
            await self.failures.add(f"device:{device}", now)
        else:
            await self.failures.add(f"account:{account_digest(email)}", now)

    async def succeeded(self, email: str, device: str | None, now: float) -> None:
        """Forget the failures the successful attempt was counted under.

        A trusted device's login forgets only the device's count: the owner logging in must not
        hand a stranger guessing elsewhere a fresh set of free attempts.
        """
        if await self._trusted(device, now):
            await self.failures.clear(f"device:{device}")
        else:
            await self.failures.clear(f"account:{account_digest(email)}")

    async def close(self) -> None:
        """Release the store."""
        await self.failures.close()
