"""The event writers themselves: SQLite's writer process and PostgreSQL's own connections.

What each engine's writer must survive differs, so each pass collects its own engine's tests:
SQLite's writer is a process that can die or outlive its server, and whose write-ahead log must
not grow without end; PostgreSQL's writer keeps connections the server can drop.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from typing import Any

import msgspec
import pytest
from trigger_org import FakeClock, event, load_org

from listening.group_commit import SqliteCommitter
from listening.ingest.ingestor import Ingestor
from listening.ingest.jobs import Work
from listening.ingest.postgres_writer import _PG_CUSTOMERS, _PG_LOOK, _PG_WRITE
from listening.ingest.sqlite_writer import apply_sqlite
from listening.tables import Event
from listening.writer_process import MAX_WEIGHT, Job, _answers, _encode, _frame, _frames, serve
from surveys.tables import Invitation

ENGINE = os.environ.get("LISTENING_TEST_ENGINE", "sqlite")


def _running(pid: int) -> bool:
    """Whether a process runs (an exited one waiting to be reaped does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def _ingest(ingestor: Ingestor, *numbers: int) -> list:
    clock = FakeClock()
    return await ingestor.submit(Work(events=[event(n) for n in numbers], now=clock()))


if ENGINE == "sqlite":

    async def test_writer_process_stores_then_exits_when_its_server_closes(db, settings):
        await load_org()
        ingestor = Ingestor(settings.secret_key)
        outcomes = await _ingest(ingestor, 1, 2, 3)
        process = ingestor._sqlite._process
        assert process is not None and process.poll() is None
        assert [o.duplicate for o in outcomes] == [False, False, False]
        await ingestor.close()
        # Closing the server's end is all it takes: the writer finished and left.
        assert process.returncode == 0
        assert await Event.count() == 3 and await Invitation.count() == 3

    async def test_a_killed_writer_fails_its_callers_and_the_next_event_starts_a_new_one(
        db, settings
    ):
        await load_org()
        ingestor = Ingestor(settings.secret_key)
        try:
            await _ingest(ingestor, 1)
            first = ingestor._sqlite._process
            first.kill()
            first.wait()
            # The server notices the writer's end closing and lets the next job start another.
            for _ in range(100):
                if ingestor._sqlite._transport is None:
                    break
                await asyncio.sleep(0.01)
            assert ingestor._sqlite._transport is None
            again = await _ingest(ingestor, 1, 2)
            second = ingestor._sqlite._process
            assert second is not first and second.poll() is None
            # Event 1 was committed by the first writer: the new one answers it as a duplicate.
            assert [(o.event_id, o.duplicate) for o in again] == [("e1", True), ("e2", False)]
        finally:
            await ingestor.close()
        assert await Event.count() == 2 and await Invitation.count() == 2

    async def test_writer_process_leaves_when_its_server_is_killed(db, settings, tmp_path):
        # A server process killed outright: its writer reads the end of the socket and exits.
        script = tmp_path / "server.py"
        script.write_text(
            "import asyncio, os, sys\n"
            "from trigger_org import FakeClock, event\n"
            "from listening.ingest.ingestor import Ingestor\n"
            "from listening.ingest.jobs import Work\n"
            "async def main():\n"
            f"    ingestor = Ingestor({settings.secret_key!r})\n"
            "    await ingestor.submit(Work(events=[event(7)], now=FakeClock()()))\n"
            "    print(ingestor._sqlite._process.pid, flush=True)\n"
            "    await asyncio.sleep(600)\n"
            "asyncio.run(main())\n"
        )
        await load_org()
        tests_dir = os.path.dirname(__file__)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests_dir, *sys.path])}
        server = subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
        )
        try:
            writer_pid = int(server.stdout.readline())
            server.kill()
            server.wait()
            for _ in range(500):
                if not _running(writer_pid):
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("the writer process outlived its server by 10 seconds")
        finally:
            if server.poll() is None:
                server.kill()
        assert await Event.count() == 1

    def test_the_write_ahead_log_is_started_over_under_a_steady_stream_of_commits(
        db, settings, tmp_path
    ):
        path = str(tmp_path / "wal.db")
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, body TEXT)")
            conn.execute("CREATE INDEX item_body ON item (body)")

        def apply(conn: sqlite3.Connection, items: list[int]) -> list[int]:
            conn.executemany(
                "INSERT INTO item (body) VALUES (?)", [(os.urandom(200).hex(),) for _ in items]
            )
            return items

        committer = SqliteCommitter(path, apply)
        committer.WAL_LIMIT_BYTES = 256 * 1024
        committer.WAL_CHECK_SECONDS = 0.0
        try:
            for _ in range(400):
                assert committer.commit(list(range(20))) == [(True, i) for i in range(20)]
        finally:
            committer.close()
        wal = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
        # Far more was logged (the rows' text alone: 400 bytes each) than stays on disk.
        assert 10 * committer.WAL_LIMIT_BYTES < 400 * 20 * 400
        assert wal <= 4 * committer.WAL_LIMIT_BYTES
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM item").fetchone()[0] == 400 * 20

    async def test_a_batch_with_a_failing_item_stores_the_others(db, settings):
        await load_org()
        calls: list[int] = []

        def apply(conn: sqlite3.Connection, works: list[Work]) -> list:
            calls.append(len(works))
            if any(w.key_hash == "boom" for w in works):
                raise RuntimeError("bad item")
            return apply_sqlite(conn, works, settings.secret_key)

        clock = FakeClock()
        committer = SqliteCommitter(Event._meta.db.path, apply)
        try:
            works = [
                Work(events=[event(1)], now=clock()),
                Work(events=[event(2)], now=clock(), key_hash="boom"),
                Work(events=[event(3)], now=clock()),
            ]
            outcomes = committer.commit(works)
        finally:
            committer.close()
        assert [ok for ok, _ in outcomes] == [True, False, True]
        assert calls == [3, 1, 1, 1]
        assert await Event.count() == 2

    def test_jobs_waiting_for_the_writer_share_a_transaction_up_to_its_weight_in_events():
        # 30 single events, a chunk that does not fit beside them, then 5 more that do:
        # the weight counts events, whatever their encoded size.
        clock = FakeClock()
        sizes = [1] * 30 + [MAX_WEIGHT - 20] + [1] * 5
        jobs, n = [], 0
        for number, size in enumerate(sizes, start=1):
            chunk = [event(n + i, attributes={"note": "x" * 500}) for i in range(size)]
            n += size
            jobs.append(Job(number, msgspec.Raw(_encode(chunk)), size, clock(), None))
        transactions: list[list[int]] = []

        def commit(batch: list[Job]) -> list[tuple[bool, Any]]:
            transactions.append([job.size for job in batch])
            return [(True, []) for _ in batch]

        ours, theirs = socket.socketpair()
        # The writer waits until the whole frame (all jobs) has arrived before it commits.
        writer = threading.Thread(target=serve, args=(theirs, commit))
        writer.start()
        try:
            ours.sendall(_frame(_encode(jobs)))
            ours.shutdown(socket.SHUT_WR)
            writer.join(timeout=60)  # it returns once every job read is answered
            theirs.close()
            answered = bytearray()
            while chunk := ours.recv(1 << 20):
                answered += chunk
        finally:
            ours.close()
            theirs.close()
        assert not writer.is_alive()
        assert transactions == [[1] * 30, [MAX_WEIGHT - 20] + [1] * 5]
        assert [len(_answers.decode(frame)) for frame in _frames(answered)] == [30, 6]


if ENGINE == "postgresql":

    async def test_writer_replaces_a_connection_the_server_dropped(db, settings):
        import asyncpg

        await load_org()
        ingestor = Ingestor(settings.secret_key)
        try:
            await _ingest(ingestor, 1)
            (conn,) = ingestor._postgres._idle
            # No sequential scans on offer: a plan kept from empty tables stays an index probe.
            assert await conn.fetchval("SHOW enable_seqscan") == "off"
            admin = await asyncpg.connect(os.environ["LISTENING_DATABASE_URL"])
            try:
                assert await admin.fetchval(
                    "SELECT pg_terminate_backend($1)", conn.get_server_pid()
                )
            finally:
                await admin.close()
            again = await _ingest(ingestor, 2)
            assert [(o.event_id, o.duplicate) for o in again] == [("e2", False)]
            (replacement,) = ingestor._postgres._idle
            assert replacement is not conn
        finally:
            await ingestor.close()
        assert await Event.count() == 2 and await Invitation.count() == 2

    async def test_the_writers_kept_plans_probe_indexes_even_when_made_on_empty_tables(
        db, settings
    ):
        await load_org()
        ingestor = Ingestor(settings.secret_key)
        try:
            await _ingest(ingestor, 1)  # one event: the tables are as small as they get
            (conn,) = ingestor._postgres._idle
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            statements = {"look": _PG_LOOK, "customers": _PG_CUSTOMERS, "write": _PG_WRITE}
            for name, sql in statements.items():
                await conn.execute(f"PREPARE {name} AS {sql}")
                count = await conn.fetchval(
                    "SELECT cardinality(parameter_types) FROM pg_prepared_statements "
                    "WHERE name = $1",
                    name,
                )
                nulls = ", ".join(["NULL"] * count)
                plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN EXECUTE {name}({nulls})"))
                assert "Seq Scan" not in plan, (name, plan)
                assert "Index" in plan, (name, plan)
                await conn.execute(f"DEALLOCATE {name}")
            await conn.execute("RESET plan_cache_mode")
        finally:
            await ingestor.close()
