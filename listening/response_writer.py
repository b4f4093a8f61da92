"""PostgreSQL's survey submissions, group-committed while a server runs.

A submission on its own would be a transaction of some ten statements, and every one of them
takes a lock on the same few tally rows until it commits, so concurrent submissions queue
behind each other. Here one writer per server process gathers the submissions that arrive
together and writes them with `surveys.response_store.write_responses` in one transaction of a
few statements, on a connection of its own; each caller waits until that transaction committed.
SQLite has its own batching store (`listening.sqlite_batch`); outside a server (the command
line, scripts) submissions keep their plain transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

from listening.group_commit import GroupCommitter, PostgresWriter
from surveys.errors import Conflict
from surveys.response_store import Submitted, ToWrite, use_batch_writer, write_responses
from surveys.tables import Response

# Submissions per transaction: large enough that a busy second fills it, small enough that a
# batch's statements stay far below PostgreSQL's 32,767 parameters (about 30 a submission).
SUBMISSIONS_PER_TRANSACTION = 200


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


class PostgresResponses:
    """Batches of submissions, one transaction each, one batch in flight per process."""

    def __init__(self, engine: Any) -> None:
        self._writer = PostgresWriter(engine)
        # One batch at a time: the next one gathers while this one commits, and two server
        # processes' batches are all the tally rows' locks see at once.
        self._committer: GroupCommitter[ToWrite, Submitted | Conflict] = GroupCommitter(
            self._apply, max_weight=SUBMISSIONS_PER_TRANSACTION, concurrency=1
        )

    async def write(self, item: ToWrite) -> Submitted:
        """Write one submission in the next batch; what it stored once committed."""
        outcome = await self._committer.submit(item)
        if isinstance(outcome, Conflict):
            raise outcome
        return outcome

    async def _apply(self, items: list[ToWrite]) -> list[Submitted | Conflict]:
        return await self._writer.run(lambda conn: write_responses(AsyncpgDb(conn), items))

    async def close(self) -> None:
        """Write what is queued, then close the writer's connections."""
        await self._committer.close()
        await self._writer.close()


@asynccontextmanager
async def response_writer_lifespan(app: Any) -> AsyncIterator[None]:
    """App lifespan: on PostgreSQL, submissions go through a batching writer while it runs."""
    from piccolo.engine.postgres import PostgresEngine

    engine = Response._meta.db
    if not isinstance(engine, PostgresEngine):
        yield
        return
    writer = PostgresResponses(engine)
    use_batch_writer(writer)
    try:
        yield
    finally:
        use_batch_writer(None)
        await writer.close()
