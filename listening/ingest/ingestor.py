"""The process's writer for events: group commit in a writer process (SQLite) or on
connections of its own (PostgreSQL). A caller gets its answer only after its transaction
committed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from listening.group_commit import GroupCommitter, PostgresWriter
from listening.ingest.answers import Outcome
from listening.ingest.jobs import PRECOMPUTE_FROM, Prepared, Work, precompute
from listening.ingest.postgres_writer import RaceLost, apply_postgres
from listening.schemas import EventIn
from listening.tables import Event
from listening.writer_process import WriterProcess


def _outcomes(result: Any) -> list[Outcome] | str:
    """A writer process's answer (outcomes as maps, or UNAUTHORIZED) as callers get it."""
    if isinstance(result, str):
        return result
    return [Outcome(**o) for o in result]


class Ingestor:
    """Stores callers' events through the configured database's group-committing writer."""

    def __init__(self, secret_key: str) -> None:
        engine = Event._meta.db
        self.secret_key = secret_key
        self._sqlite: WriterProcess | None = None
        self._committer: GroupCommitter[Work, Any] | None = None
        self._postgres: PostgresWriter | None = None
        if engine.engine_type == "sqlite":
            self._sqlite = WriterProcess(engine.path, secret_key, _outcomes)
        else:
            pg = self._postgres = PostgresWriter(engine, retry_on=(RaceLost,))

            async def apply(works: list[Work]) -> list:
                return await pg.run(lambda conn: apply_postgres(conn, works, secret_key))

            # One batch at a time per server process: with a backend per batch in flight, the
            # backends of all server processes compete for the same cores, and each event
            # costs PostgreSQL more (measured: 2,800 events/s with one, 2,200 with three).
            self._committer = GroupCommitter(
                apply, weight=lambda w: max(1, len(w.events)), max_weight=2000, concurrency=1
            )

    def precompute(self, events: list[EventIn]) -> Prepared | None:
        """`precompute` for a large job whose writer is the SQLite process, else nothing.

        There the writer bounds batch ingestion while this process waits for it; a single
        event's request is this process's bottleneck instead, and PostgreSQL's writer is not
        the bound.
        """
        if self._sqlite is None or len(events) < PRECOMPUTE_FROM:
            return None
        return precompute(events, self.secret_key)

    async def ready(self) -> None:
        """Start what `enqueue` needs (the SQLite writer process) unless it runs."""
        if self._sqlite is not None:
            await self._sqlite.ready()

    async def submit(self, work: Work) -> list[Outcome] | str:
        """Store a caller's events; their outcomes, or UNAUTHORIZED for a dead key."""
        await self.ready()
        return await self.enqueue(work)

    def enqueue(self, work: Work, prepared: Prepared | None = None) -> asyncio.Future:
        """Queue a caller's events now (after `ready`), with what `precompute` made for them;
        the future holds what `submit` returns."""
        if self._sqlite is None:
            assert self._committer is not None
            return self._committer.enqueue(work)
        if prepared is not None:
            work.precomputed = prepared.precomputed
        return self._sqlite.enqueue(work.decoded(), work.now, work.key_hash, work.precomputed)

    async def close(self) -> None:
        """Commit what is queued, then stop the writer."""
        if self._sqlite is not None:
            await self._sqlite.close()
        if self._committer is not None:
            await self._committer.close()
        if self._postgres is not None:
            await self._postgres.close()


_ingestors: dict[tuple[int, str], Ingestor] = {}


def ingestor(secret_key: str) -> Ingestor:
    """The process's ingestor for the configured database (created on first use)."""
    key = (id(Event._meta.db), secret_key)
    found = _ingestors.get(key)
    if found is None:
        found = _ingestors[key] = Ingestor(secret_key)
    return found


async def close_ingestors() -> None:
    """Stop every writer of this process (at shutdown)."""
    while _ingestors:
        _, found = _ingestors.popitem()
        await found.close()


@asynccontextmanager
async def ingest_lifespan(app: Any) -> AsyncIterator[None]:
    """App lifespan: at shutdown, commit what is queued and close the writers."""
    try:
        yield
    finally:
        await close_ingestors()
