"""Group commit: one writer drains a queue of work and commits it in batches.

Each caller waits until the transaction holding its work has committed, so an acknowledgement
always means "stored", while the database pays one commit per batch instead of one per request.
The committer for SQLite keeps one long-lived connection (WAL; synchronous FULL unless
configured otherwise) in a writer process of its own (`listening.writer_process`); the writer
for PostgreSQL keeps connections of its own and runs its batches from the event loop.
`GroupCommitter` is the one queue of batches in the event loop: PostgreSQL's events and SQLite's
survey writes (`listening.sqlite_batch`) go through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)


def sqlite_synchronous() -> str:
    """How hard SQLite commits reach the disk: FULL (default) or NORMAL.

    FULL syncs the write-ahead log at every commit, so an acknowledged answer survives a power
    cut; with group commit that is one sync per batch. NORMAL keeps commits atomic and survives
    a crash of the process, but a power cut can drop the last commits; it is faster.
    `LISTENING_SQLITE_SYNCHRONOUS` chooses (checked at start-up by the settings).
    """
    value = os.environ.get("LISTENING_SQLITE_SYNCHRONOUS", "full").upper()
    return value if value in {"FULL", "NORMAL"} else "FULL"


T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Pending(Generic[T]):
    item: T
    future: asyncio.Future = field(repr=False)


class GroupCommitter(Generic[T, R]):
    """Run submitted items through `apply` in batches; `apply` commits and returns one result each.

    `weight` tells how much work an item is (events in it), so a batch stays near `max_weight`.
    `concurrency` batches may be in flight at once (1 for SQLite's single writer; more for
    PostgreSQL, where one batch's commit overlaps the next one's statements). A failing batch is
    retried item by item, so one bad item cannot fail its neighbours.
    """

    def __init__(
        self,
        apply: Callable[[list[T]], Awaitable[list[R]]],
        *,
        weight: Callable[[T], int] = lambda _: 1,
        max_weight: int = 2000,
        concurrency: int = 1,
    ) -> None:
        self._apply = apply
        self._concurrency = concurrency
        self._in_flight: set[asyncio.Task] = set()
        self._weight = weight
        self._max_weight = max_weight
        self._queue: asyncio.Queue[_Pending[T]] | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._carry: _Pending[T] | None = None

    def _start(self) -> asyncio.Queue[_Pending[T]]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._carry = None
            self._task = loop.create_task(self._run(self._queue), name="group-commit")
        return self._queue

    async def submit(self, item: T) -> R:
        """Queue one item and wait for its result, given after its batch committed."""
        return await self.enqueue(item)

    def enqueue(self, item: T) -> asyncio.Future:
        """Queue one item now; the future holds its result once its batch committed."""
        queue = self._start()
        future = asyncio.get_running_loop().create_future()
        queue.put_nowait(_Pending(item, future))
        return future

    async def _next_batch(self, queue: asyncio.Queue[_Pending[T]]) -> list[_Pending[T]]:
        opening = self._carry or await queue.get()
        self._carry = None
        batch, weight = [opening], self._weight(opening.item)
        while not queue.empty() and weight < self._max_weight:
            pending = queue.get_nowait()
            w = self._weight(pending.item)
            if weight + w > self._max_weight:
                self._carry = pending
                break
            batch.append(pending)
            weight += w
        return batch

    async def _run(self, queue: asyncio.Queue[_Pending[T]]) -> None:
        slots = asyncio.Semaphore(self._concurrency)
        while True:
            # Wait for a free slot first: meanwhile the queue fills and the next batch grows.
            await slots.acquire()
            batch = await self._next_batch(queue)
            task = asyncio.get_running_loop().create_task(self._settle(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _settle(self, batch: list[_Pending[T]]) -> None:
        live = [p for p in batch if not p.future.cancelled()]
        if not live:
            return
        try:
            results = await self._apply([p.item for p in live])
        except asyncio.CancelledError:
            for p in live:
                if not p.future.done():
                    p.future.set_exception(RuntimeError("the writer stopped"))
            raise
        except Exception as exc:
            if len(live) == 1:
                if not live[0].future.done():
                    live[0].future.set_exception(exc)
                return
            log.warning("batch of %d failed (%s); retrying one by one", len(live), exc)
            for p in live:
                await self._apply_alone(p)
            return
        for p, result in zip(live, results, strict=True):
            if not p.future.done():
                p.future.set_result(result)

    async def _apply_alone(self, pending: _Pending[T]) -> None:
        try:
            (result,) = await self._apply([pending.item])
        except Exception as exc:
            if not pending.future.done():
                pending.future.set_exception(exc)
            return
        if not pending.future.done():
            pending.future.set_result(result)

    async def close(self) -> None:
        """Stop the writer after the work already queued has been committed."""
        if self._task is None or self._queue is None:
            return
        while (not self._queue.empty() or self._carry is not None) and not self._task.done():
            await asyncio.sleep(0.01)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._task = None


class SqliteCommitter(Generic[T, R]):
    """One long-lived SQLite connection that commits batches of items, one transaction each.

    `apply(connection, items)` runs inside `BEGIN IMMEDIATE` and returns one result per item;
    a failing batch is retried item by item, so one bad item cannot fail its neighbours. A
    thread beside it copies the write-ahead log back into the database once a second, so no
    commit pays for a checkpoint. Used from one thread (the writer process's).
    """

    CHECKPOINT_SECONDS = 1.0
    WAL_LIMIT_BYTES = 64 * 2**20
    WAL_CHECK_SECONDS = 1.0

    def __init__(
        self,
        path: str,
        apply: Callable[[sqlite3.Connection, list[T]], list[R]],
        *,
        busy_timeout: float = 30.0,
    ) -> None:
        self.path = path
        self._apply = apply
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._next_wal_check = 0.0

    def commit(self, items: list[T]) -> list[tuple[bool, Any]]:
        """(True, result) or (False, exception) for each item, once its transaction ended."""
        try:
            return [(True, r) for r in self._transaction(items)]
        except Exception as exc:
            if len(items) == 1:
                return [(False, exc)]
            log.warning("batch of %d failed (%s); retrying one by one", len(items), exc)
        outcomes: list[tuple[bool, Any]] = []
        for item in items:
            try:
                outcomes.append((True, self._transaction([item])[0]))
            except Exception as alone:
                outcomes.append((False, alone))
        return outcomes

    def _checkpoint_loop(self) -> None:
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        try:
            while not self._stop.wait(self.CHECKPOINT_SECONDS):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.OperationalError as exc:
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # PARSE_DECLTYPES: Piccolo registered converters for TIMESTAMPTZ and friends.
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                detect_types=sqlite3.PARSE_DECLTYPES,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={sqlite_synchronous()}")
            # Indexes of events, customers and invitations stay in memory (64 MiB).
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute(f"PRAGMA journal_size_limit={self.WAL_LIMIT_BYTES}")
            self._conn = conn
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="sqlite-checkpoint", daemon=True
            )
            self._checkpointer.start()
        return self._conn

    def _transaction(self, items: list[T]) -> list[R]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = self._apply(conn, items)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._bound_wal(conn)
        return results

    def _bound_wal(self, conn: sqlite3.Connection) -> None:
        # Passive checkpoints copy the log back, but under a steady stream of commits the log
        # never runs empty, so SQLite never starts it over and the file grows without end.
        # Once it passes the limit, the writer starts it over itself; the checkpoint thread
        # has copied nearly all of it already. Never waits for a reader: it tries again later.
        now = time.monotonic()
        if now < self._next_wal_check:
            return
        self._next_wal_check = now + self.WAL_CHECK_SECONDS
        try:
            size = os.path.getsize(self.path + "-wal")
        except OSError:
            return
        if size > self.WAL_LIMIT_BYTES:
            conn.execute("PRAGMA busy_timeout=0")
            try:
                conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
            except sqlite3.OperationalError as exc:
                log.info("log restart postponed: %s", exc)
            finally:
                conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")

    def close(self) -> None:
        """Close the connection and stop the checkpoints."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
            self._checkpointer = None


class PostgresWriter:
    """A transaction per call on connections of its own, kept open, retried on deadlock.

    The writer's own connections spare each batch a round of the shared pool (acquire, and
    the reset queries on release) and keep its prepared statements warm.
    """

    RETRIES = 5

    def __init__(self, engine: Any, *, retry_on: tuple[type[Exception], ...] = ()) -> None:
        self.engine = engine
        self._retry_on = retry_on
        self._idle: list[Any] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, fn: Callable[[Any], Awaitable[R]], *, transaction: bool = True) -> R:
        """Run `await fn(connection)` in one transaction (or, for reads, none); retry on
        deadlock, serialization failure or the exceptions given as `retry_on`."""
        import asyncpg

        # A connection the server dropped is replaced and the batch run again: should its
        # commit have happened, event ids make the second run answer what the first stored.
        retryable = (
            asyncpg.DeadlockDetectedError,
            asyncpg.SerializationError,
            *_connection_errors(),
            *self._retry_on,
        )
        for attempt in range(self.RETRIES):
            try:
                return await self._once(fn, transaction)
            except retryable:
                if attempt == self.RETRIES - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _once(self, fn: Callable[[Any], Awaitable[R]], transaction: bool) -> R:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Connections belong to the loop that opened them.
            self._idle, self._loop = [], loop
        while self._idle and self._idle[-1].is_closed():
            self._idle.pop()
        conn = self._idle.pop() if self._idle else await self._connect()
        try:
            if transaction:
                async with conn.transaction():
                    result = await fn(conn)
            else:
                result = await fn(conn)
        except BaseException as exc:
            gone = isinstance(exc, _connection_errors())
            if gone or conn.is_closed() or conn.is_in_transaction():
                conn.terminate()
            else:
                self._idle.append(conn)
            raise
        self._idle.append(conn)
        return result

    async def _connect(self) -> Any:
        conn = await self.engine.get_new_connection()
        # Every look-up of the writer is an index probe whatever the tables' size, so its
        # prepared statements keep their generic plans (planning each execution anew cost as
        # much as running it). Without sequential scans on offer, a generic plan made while the
        # tables were nearly empty is an index scan too, and stays right as they grow.
        await conn.execute("SET enable_seqscan = off")
        return conn

    async def close(self) -> None:
        """Close the writer's connections."""
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)


def _connection_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean a PostgreSQL connection is gone (its server dropped it)."""
    import asyncpg

    return (
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.PostgresConnectionError,
        asyncpg.AdminShutdownError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,  # a message of the dropped server left it mid-state
        ConnectionError,
    )
