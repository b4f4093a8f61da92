"""SQLite hot paths for survey links: a kept-open reader and a batching writer.

The survey domain receives it through `surveys.response_store.use_store` (the app factory
installs `batch_for`), and writes through it with the same `write_response` as on PostgreSQL.

Piccolo's SQLite engine opens a connection (and a thread) per query outside a transaction and
commits per request; at survey-link rates that cost dominates. Here:

- reads are point look-ups by an indexed column on one long-lived connection (WAL lets them run
  beside the writer, and they take microseconds, so they run on the event loop);
- writes are queued (`listening.group_commit.GroupCommitter`) and applied by one writer thread
  on its own connection, many per transaction, each in a SAVEPOINT so one refused write cannot
  undo its neighbours; every caller waits until the transaction holding its write has committed. A
  write is the domain's coroutine over a `Db`: the thread runs it on an event loop of its own,
  where every statement completes at once (sqlite3 is synchronous).

PostgreSQL does not need this: its pool keeps connections and concurrent transactions commit
in parallel. The writer takes `BEGIN IMMEDIATE`, so it serialises with Piccolo's writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar

from listening.group_commit import GroupCommitter, sqlite_synchronous

BUSY_TIMEOUT_SECONDS = 30.0
WRITES_PER_TRANSACTION = 256


T = TypeVar("T")
Write = Callable[["ConnectionDb"], Awaitable[Any]]


@lru_cache(maxsize=256)
def _qmark(sql: str) -> str:
    # The domain's statements take Piccolo's {} placeholders; sqlite3 takes ?.
    return sql.replace("{}", "?")


class ConnectionDb:
    """A sqlite3 connection as the domain's `Db`: `{}` placeholders, rows as dicts."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run one statement; its rows as dicts."""
        return [dict(r) for r in self._conn.execute(_qmark(sql), args).fetchall()]


def _connect(path: str) -> sqlite3.Connection:
    # PARSE_DECLTYPES: Piccolo registered converters for TIMESTAMPTZ, DATE and friends.
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
        check_same_thread=False,
        detect_types=sqlite3.PARSE_DECLTYPES,
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={sqlite_synchronous()}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SqliteBatch:
    """The reader and the batching writer of one SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="survey-writer")
        self._writer_loop: asyncio.AbstractEventLoop | None = None
        self._committer: GroupCommitter[Write, tuple[bool, Any]] = GroupCommitter(
            self._commit, max_weight=WRITES_PER_TRANSACTION
        )

    def read_one(self, sql: str, *args: Any) -> dict[str, Any] | None:
        """The first row of a quick read, as a dict (never use it for scans)."""
        if self._reader is None:
            self._reader = _connect(self.path)
        row = self._reader.execute(_qmark(sql), args).fetchone()
        return dict(row) if row is not None else None

    def read_all(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """All rows of a quick read (a survey's few questions)."""
        if self._reader is None:
            self._reader = _connect(self.path)
        return [dict(r) for r in self._reader.execute(_qmark(sql), args).fetchall()]

    async def write(self, work: Callable[[ConnectionDb], Awaitable[T]]) -> T:
        """Run `await work(db)` in the next batch; return its result once committed."""
        ok, value = await self._committer.submit(work)
        if not ok:
            raise value
        return value

    async def _commit(self, works: list[Write]) -> list[tuple[bool, Any]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._apply, works)

    def _apply(self, works: list[Write]) -> list[tuple[bool, Any]]:
        if self._writer is None:
            self._writer = _connect(self.path)
            self._writer_loop = asyncio.new_event_loop()  # this thread's, for the writes
        conn, db = self._writer, ConnectionDb(self._writer)
        outcomes: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for work in works:
                conn.execute("SAVEPOINT one")
                try:
                    outcomes.append((True, self._writer_loop.run_until_complete(work(db))))
                except Exception as exc:
                    conn.execute("ROLLBACK TO one")
                    outcomes.append((False, exc))
                conn.execute("RELEASE one")
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return outcomes


_BATCHES: dict[str, SqliteBatch] = {}


def batch_for(engine: Any) -> SqliteBatch | None:
    """The hot-path helper of a Piccolo SQLite engine; None for other engines."""
    from piccolo.engine.sqlite import SQLiteEngine

    if not isinstance(engine, SQLiteEngine):
        return None
    path = engine.path
    found = _BATCHES.get(path)
    if found is None:
        found = _BATCHES[path] = SqliteBatch(path)
    return found
