"""PostgreSQL hot paths for survey links while a server runs: batched look-ups and submissions.

The survey domain receives it through `surveys.response_store.use_batch_store` (the app's
lifespan installs it), as SQLite's links go through `listening.sqlite_batch`.

A submission on its own would be a transaction of some ten statements, and every one of them
takes a lock on the same few tally rows until it commits, so concurrent submissions queue
behind each other. Here one writer per server process gathers the submissions that arrive
together and writes them with `surveys.response_store.write_responses` in one transaction of a
few statements, on a connection of its own; each caller waits until that transaction committed.
The look-up of each link's invitation is gathered the same way: concurrent requests' tokens are
read in one query. Outside a server (the command line, scripts) links keep Piccolo's pool.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from listening.group_commit import GroupCommitter, PostgresWriter
from surveys.errors import Conflict
from surveys.response_store import Submitted, ToWrite, use_batch_store, write_responses
from surveys.tables import Response

# Submissions per transaction: large enough that a busy second fills it, small enough that a
# batch's statements stay far below PostgreSQL's 32,767 parameters (about 30 a submission).
SUBMISSIONS_PER_TRANSACTION = 200
LOOKUPS_PER_QUERY = 500


@lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    # The domain's statements take Piccolo's {} placeholders; asyncpg takes $1, $2, …
    parts = sql.split("{}")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


class AsyncpgDb:
    """An asyncpg connection inside a transaction as the domain's `Db`."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run one statement; its rows as dicts."""
        return [dict(r) for r in await self._conn.fetch(_numbered(sql), *args)]


@dataclass(frozen=True)
class _Lookup:
    sql: str
    column: str
    key: Any


async def _read(conn: Any, lookups: list[_Lookup]) -> list[dict[str, Any] | None]:
    """Each look-up's row, one query per statement for all of its keys."""
    keys: dict[tuple[str, str], set[Any]] = defaultdict(set)
    for lookup in lookups:
        keys[(lookup.sql, lookup.column)].add(lookup.key)
    found: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for (sql, column), wanted in keys.items():
        for row in await conn.fetch(_numbered(sql), list(wanted)):
            found[(sql, column, row[column])] = dict(row)
    return [found.get((lookup.sql, lookup.column, lookup.key)) for lookup in lookups]


class PostgresLinks:
    """The batching reader and writer of survey links for one server process."""

    def __init__(self, engine: Any) -> None:
        self._connections = PostgresWriter(engine)
        # One batch of submissions at a time: the next one gathers while this one commits,
        # and two server processes' batches are all the tally rows' locks see at once.
        self._writes: GroupCommitter[ToWrite, Submitted | Conflict] = GroupCommitter(
            self._write_batch, max_weight=SUBMISSIONS_PER_TRANSACTION, concurrency=1
        )
        self._reads: GroupCommitter[_Lookup, dict[str, Any] | None] = GroupCommitter(
            self._read_batch, max_weight=LOOKUPS_PER_QUERY, concurrency=2
        )

    async def find(self, sql: str, column: str, key: Any) -> dict[str, Any] | None:
        """The row whose `column` is `key`, read with the concurrent look-ups of `sql`."""
        return await self._reads.submit(_Lookup(sql, column, key))

    async def write(self, item: ToWrite) -> Submitted:
        """Write one submission in the next batch; what it stored once committed."""
        outcome = await self._writes.submit(item)
        if isinstance(outcome, Conflict):
            raise outcome
        return outcome

    async def _write_batch(self, items: list[ToWrite]) -> list[Submitted | Conflict]:
        return await self._connections.run(lambda conn: write_responses(AsyncpgDb(conn), items))

    async def _read_batch(self, lookups: list[_Lookup]) -> list[dict[str, Any] | None]:
        return await self._connections.run(lambda conn: _read(conn, lookups), transaction=False)

    async def close(self) -> None:
        """Write what is queued, then close the connections."""
        await self._reads.close()
        await self._writes.close()
        await self._connections.close()


@asynccontextmanager
async def postgres_batch_lifespan(app: Any) -> AsyncIterator[None]:
    """App lifespan: on PostgreSQL, survey links go through a batching store while it runs."""
    from piccolo.engine.postgres import PostgresEngine

    engine = Response._meta.db
    if not isinstance(engine, PostgresEngine):
        yield
        return
    links = PostgresLinks(engine)
    use_batch_store(links)
    try:
        yield
    finally:
        use_batch_store(None)
        await links.close()
