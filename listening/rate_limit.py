"""Rate limits for the public entry points, checked before anything else reads the request.

- Feedback posts (`POST /f/...`), logins (`POST /login`) and "forgot password" forms
  (`POST /password/forgot`): per client address, `settings.public_rate_limit` a minute.
- Logins are also slowed per account, with an exemption for the owner's browser: see
  `listening.login_throttle`.
- Survey pages, the token API and opt-in links (`/s/{token}...`, `/api/responses/{token}`,
  `/opt-in/{token}`): per token, `settings.token_rate_limit` a minute, never per address
  (customers behind one office or mobile-carrier address must not block each other).

Fixed one-minute windows counted with Redis INCR + EXPIRE when `settings.redis_url` is set, so
every server process shares them; else in the process's memory. The windows are minutes of the
app's clock, like every other time the app reads (so a test that stands the clock still is never
split by a minute turning over between its requests). Litestar's own
`RateLimitMiddleware` reads the history from its store, changes it and writes it back, which
lets concurrent requests from several processes overwrite each other's counts, and it keys one
limit per middleware; one atomic counter per (limit, key, window) avoids both.

The client address comes from `X-Forwarded-For` only when the direct peer is a trusted proxy,
walking the header from the right past the trusted hops, so a client cannot choose its own key.

A refused customer link (`/s/...`, `/f/...`) carries the customer's language for its page
(`RateLimited.wording`; JSON clients still get JSON).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar.exceptions import TooManyRequestsException
from litestar.types import ASGIApp, Receive, Scope, Send

from listening.settings import Settings, SettingsError
from surveys.answers import accepted_locales
from surveys.clock import Clock, system_clock
from surveys.customer_language import browser_wording
from surveys.languages import Wording
from surveys.organisation import current_organisation

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
TOKEN_PREFIXES = ("/s/", "/opt-in/", "/api/responses/")


@dataclass(frozen=True)
class WindowCount:
    """A request counted in its window: whether it may pass, and when the window resets."""

    allowed: bool
    retry_after: int


class MemoryCounter:
    """Fixed-window counters in this process's memory."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, int], int] = {}
        self._window = -1

    async def hit(self, key: str, limit: int) -> WindowCount:
        """Count one request for `key`; refuse once the window holds `limit`."""
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        if window != self._window:
            # A new minute: older windows can never be read again.
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            self._window = window
        count = self._counts.get((key, window), 0) + 1
        self._counts[(key, window)] = count
        return WindowCount(count <= limit, _retry_after(now, window))

    def reset(self) -> None:
        """Forget every count (tests share one app and start each test with no history)."""
        self._counts.clear()

    async def close(self) -> None:
        """Nothing to release."""


class RedisCounter:
    """Fixed-window counters in Redis, shared by every server process."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        try:
            from redis.asyncio import Redis
        except ImportError:
            # Redis is optional: only a configured URL needs its client.
            raise SettingsError(
                "LISTENING_REDIS_URL is set but the redis client is not installed: "
                "pip install 'listening-post[redis]'"
            ) from None

        self._redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._clock = clock

    async def hit(self, key: str, limit: int) -> WindowCount:
        """Count one request for `key` atomically; refuse once the window holds `limit`."""
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        name = f"lp:rl:{key}:{window}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, WINDOW_SECONDS + 5)
                count, _ = await pipe.execute()
        except Exception as exc:
            # A limiter outage must not take the surveys down with it: let the request pass.
            log.warning("rate limit store unavailable, request let through: %s", exc)
            return WindowCount(True, 0)
        return WindowCount(int(count) <= limit, _retry_after(now, window))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def _retry_after(now: float, window: int) -> int:
    return max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))


def _networks(entries: tuple[str, ...]) -> list[Any]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            log.warning("LISTENING_TRUSTED_PROXIES: %r is not an address or network", entry)
    return networks


def _trusted(address: str, networks: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(scope: Scope, trusted: list[Any]) -> str:
    """The client's address: the peer, or the first untrusted hop of X-Forwarded-For."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    forwarded = [
        part.strip()
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
        for part in value.decode("latin-1").split(",")
        if part.strip()
    ]
    for hop in reversed(forwarded):
        if not _trusted(hop, trusted):
            return hop
    return forwarded[0] if forwarded else peer


def limit_key(scope: Scope, trusted: list[Any], settings: Settings) -> tuple[str, int] | None:
    """The counter and limit a request falls under, or None when it is not limited."""
    path: str = scope.get("path", "")
    method: str = scope.get("method", "GET")
    for prefix in TOKEN_PREFIXES:
        if path.startswith(prefix):
            token = path[len(prefix) :].split("/", 1)[0]
            if not token:
                return None
            # The counter is named by a hash: tokens never reach the limiter's store.
            digest = hashlib.sha256(token.encode()).hexdigest()[:32]
            return f"token:{digest}", settings.token_rate_limit
    if method == "POST" and (path.startswith("/f/") or path in ("/login", "/password/forgot")):
        bucket = "feedback" if path.startswith("/f/") else path.strip("/").replace("/", "-")
        return f"{bucket}:{client_address(scope, trusted)}", settings.public_rate_limit
    return None


CUSTOMER_PREFIXES = ("/s/", "/f/")


class RateLimited(TooManyRequestsException):
    """A 429 with Retry-After; on a customer link, the wording of the customer's page."""

    def __init__(self, counted: WindowCount, wording: Wording | None = None) -> None:
        super().__init__(
            "Too many requests: please wait a minute and try again.",
            headers={"Retry-After": str(counted.retry_after)},
        )
        self.wording = wording


async def customer_wording(scope: Scope) -> Wording | None:
    """The language of a refused customer link's page: the browser's, else the default.

    A survey link's own page speaks its invitation's locale, but finding the invitation is a
    database read per request, the work a refusal exists to spare; so a refused link follows
    Accept-Language (as a feedback post always does), else the organisation's default locale.
    The organisation is cached (`current_organisation`), so a flood costs no reads.
    """
    if not scope.get("path", "").startswith(CUSTOMER_PREFIXES):
        return None
    header = next((v for k, v in scope.get("headers", ()) if k == b"accept-language"), b"")
    try:
        organisation = await current_organisation()
    except Exception as exc:
        # The refusal must not fail with the database: a generic page will do.
        log.warning("organisation unavailable for a refused customer link: %s", exc)
        return None
    return browser_wording(accepted_locales(header.decode("latin-1")), organisation)


def make_counter(settings: Settings, clock: Clock = system_clock) -> MemoryCounter | RedisCounter:
    """Redis when configured, else process memory; windows follow `clock` (the app's)."""

    def seconds() -> float:
        return clock().timestamp()

    if settings.redis_url:
        return RedisCounter(settings.redis_url, clock=seconds)
    return MemoryCounter(clock=seconds)


class RateLimitMiddleware:
    """Refuse requests over their limit with 429 and Retry-After, before any other work."""

    def __init__(
        self, app: ASGIApp, settings: Settings, counter: MemoryCounter | RedisCounter
    ) -> None:
        self.app = app
        self.settings = settings
        self.counter = counter
        self.trusted = _networks(settings.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request against its limit; pass it on or refuse it."""
        if scope["type"] == "http":
            found = limit_key(scope, self.trusted, self.settings)
            if found is not None:
                counted = await self.counter.hit(*found)
                if not counted.allowed:
                    raise RateLimited(counted, await customer_wording(scope))
        await self.app(scope, receive, send)
