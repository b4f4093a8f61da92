"""Server-side sessions: the cookie carries a random id, the session lives in the database
(or in Redis when LISTENING_REDIS_URL is set), so the server can end it.

- Logging out deletes the session: a copy of the cookie taken before stops working.
- A session ends after `settings.session_idle_seconds` without a request and, whatever the
  activity, `settings.session_lifetime_seconds` after the login that started it.
- A password change or reset ends every session of the account (`session_alive` compares the
  account's `password_changed_at` with its value when the session started).
- Logging in always starts a session under a fresh id, so an id planted in a browser before
  the login (session fixation) never becomes a logged-in session.

Times come from the app's clock, so tests move them. A session is written when its data change,
and at most once a minute to record activity, not on every request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession
from litestar.utils.dataclass import extract_dataclass_items

from listening.settings import Settings
from listening.tables import WebSession
from surveys.accounts import Account
from surveys.clock import Clock, system_clock

SESSION_COOKIE = "lp_session"
USER_KEY = "user_id"
STARTED_KEY = "started_at"
SEEN_KEY = "seen_at"
# The account's password_changed_at when the session started: any change since ends it.
CHANGED_KEY = "password_changed_at"
# Activity is recorded to this resolution: the idle timeout is exact to within it.
SEEN_RESOLUTION_SECONDS = 60
_LOADED = "lp_session_loaded"
_ROTATE = "lp_session_rotate"
_PURGE_EVERY = timedelta(hours=1)


def _key_hash(key: str) -> str:
    # A copy of the table cannot be replayed as cookies: only hashes of the ids are stored.
    return hashlib.sha256(key.encode()).hexdigest()


class DatabaseSessionStore(Store):
    """A Litestar store in the `web_session` table, with expiry times from the app's clock."""

    def __init__(self, clock: Clock = system_clock) -> None:
        self._clock = clock
        self._last_purge: datetime | None = None

    def _expiry(self, expires_in: int | timedelta | None) -> datetime | None:
        if expires_in is None:
            return None
        delta = expires_in if isinstance(expires_in, timedelta) else timedelta(seconds=expires_in)
        return self._clock() + delta

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        """Store `value` under `key`, replacing what was there and its expiry."""
        data = value.decode() if isinstance(value, bytes) else value
        row = WebSession(key_hash=_key_hash(key), data=data, expires_at=self._expiry(expires_in))
        await WebSession.insert(row).on_conflict(
            target=WebSession.key_hash,
            action="DO UPDATE",
            values=[WebSession.data, WebSession.expires_at],
        )
        await self._purge_when_due()

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        """The value under `key`, or None when there is none or it expired."""
        row = (
            await WebSession.select(WebSession.data, WebSession.expires_at)
            .where(WebSession.key_hash == _key_hash(key))
            .first()
        )
        if row is None:
            return None
        if row["expires_at"] is not None and row["expires_at"] <= self._clock():
            await self.delete(key)
            return None
        if renew_for is not None:
            await WebSession.update({WebSession.expires_at: self._expiry(renew_for)}).where(
                WebSession.key_hash == _key_hash(key)
            )
        return row["data"].encode()

    async def delete(self, key: str) -> None:
        """Delete the value under `key`, if any."""
        await WebSession.delete().where(WebSession.key_hash == _key_hash(key))

    async def delete_all(self) -> None:
        """Delete every session."""
        await WebSession.delete(force=True)

    async def exists(self, key: str) -> bool:
        """Whether a live value is stored under `key`."""
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        """Seconds until the value under `key` expires; None without expiry or value."""
        row = (
            await WebSession.select(WebSession.expires_at)
            .where(WebSession.key_hash == _key_hash(key))
            .first()
        )
        if row is None or row["expires_at"] is None:
            return None
        return int((row["expires_at"] - self._clock()).total_seconds())

    async def delete_expired(self) -> None:
        """Delete the sessions past their expiry."""
        await WebSession.delete().where(WebSession.expires_at <= self._clock())

    async def _purge_when_due(self) -> None:
        now = self._clock()
        if self._last_purge is None or now - self._last_purge >= _PURGE_EVERY:
            self._last_purge = now
            await self.delete_expired()


class SessionBackend(ServerSideSessionBackend):
    """Litestar's server-side backend, writing only what changed and rotating ids at login.

    Litestar's own backend stores every response's session, an empty one for each anonymous
    visitor too, and keeps the id the browser sent when a login fills the session.
    """

    config: SessionConfig

    async def set(self, session_id: str, data: bytes, store: Store) -> None:
        """Store the session; the store keeps it a little longer than the idle timeout."""
        await store.set(session_id, data, expires_in=self.config.store_seconds)

    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        """The stored session named by the cookie, or an empty one."""
        data = None
        if session_id := connection.cookies.get(self.config.key):
            data = await self.get(session_id, self.config.get_store_from_app(connection.app))
        connection.scope[_LOADED] = data  # type: ignore[literal-required]
        return self.deserialize_data(data) if data else {}

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection
    ) -> None:
        """Delete an ended session, write a changed one, and set the cookie of a new one."""
        scope = connection.scope
        store = self.config.get_store_from_app(scope["app"])
        headers = MutableScopeHeaders.from_message(message)
        cookie_id = connection.cookies.get(self.config.key)
        loaded = scope.get(_LOADED)
        params = dict(
            extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys())
        )
        if scope_session is Empty or not scope_session:
            if cookie_id:
                if loaded is not None:
                    await store.delete(cookie_id)
                headers.add(
                    "Set-Cookie",
                    Cookie(value="null", key=self.config.key, expires=0, **params).to_header(
                        header=""
                    ),
                )
            return
        data = self.serialize_data(scope_session, scope)
        if cookie_id and loaded is not None and not scope.get(_ROTATE):
            if data != loaded:
                await self.set(cookie_id, data, store)
            return
        if cookie_id and loaded is not None:
            await store.delete(cookie_id)
        session_id = self.generate_session_id()
        await self.set(session_id, data, store)
        headers.add(
            "Set-Cookie",
            Cookie(value=session_id, key=self.config.key, **params).to_header(header=""),
        )


@dataclass
class SessionConfig(ServerSideSessionConfig):
    """Server-side session settings: `max_age` is the cookie's life, `store_seconds` the row's."""

    _backend_class = SessionBackend  # type: ignore[assignment]
    store_seconds: int = field(default=8 * 3600 + SEEN_RESOLUTION_SECONDS)


def session_config(settings: Settings, *, exclude: list[str]) -> SessionConfig:
    """The session middleware's configuration for these settings."""
    return SessionConfig(
        key=SESSION_COOKIE,
        max_age=settings.session_lifetime_seconds,
        store_seconds=settings.session_idle_seconds + SEEN_RESOLUTION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        exclude=exclude,
    )


def session_store(settings: Settings, clock: Clock) -> Store:
    """Redis when LISTENING_REDIS_URL is set (shared by every server process), else the database."""
    if settings.redis_url:
        from litestar.stores.redis import RedisStore

        return RedisStore.with_client(url=settings.redis_url, namespace="lp_session")
    return DatabaseSessionStore(clock)


def _password_stamp(account: Account) -> float | None:
    changed = account.password_changed_at
    return changed.timestamp() if changed else None


def start_session(connection: ASGIConnection, account: Account, now: datetime) -> None:
    """Log a person in: a new session, under a new id, started now."""
    stamp = now.timestamp()
    connection.scope["session"] = {
        USER_KEY: account.id,
        STARTED_KEY: stamp,
        SEEN_KEY: stamp,
        CHANGED_KEY: _password_stamp(account),
    }
    connection.scope[_ROTATE] = True  # type: ignore[literal-required]


def session_alive(
    session: dict[str, Any], account: Account, now: datetime, settings: Settings
) -> bool:
    """Whether a session may still act: not idle too long, not too old, no password change since."""
    started, seen = session.get(STARTED_KEY), session.get(SEEN_KEY)
    if not isinstance(started, int | float) or not isinstance(seen, int | float):
        return False
    stamp = now.timestamp()
    if stamp - seen > settings.session_idle_seconds:
        return False
    if stamp - started > settings.session_lifetime_seconds:
        return False
    return session.get(CHANGED_KEY) == _password_stamp(account)


def record_activity(session: dict[str, Any], now: datetime) -> None:
    """Note the request in the session when the last note is older than the resolution."""
    stamp = now.timestamp()
    if stamp - session.get(SEEN_KEY, 0) >= SEEN_RESOLUTION_SECONDS:
        session[SEEN_KEY] = stamp
