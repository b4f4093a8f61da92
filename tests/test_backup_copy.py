"""`listening backup` under concurrent writes, and `listening copy` from SQLite to PostgreSQL.

Both run as a user runs them: the CLI as a subprocess on a SQLite file made by the test, apart
from the suite's own database. The copy needs the PostgreSQL server of the test setup; it runs in
both passes, creating a database of its own and dropping it afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import pytest

from tests.conftest import ADMIN_URL

JOURNEY = Path(__file__).parent.parent / "listening" / "demo" / "journey.toml"


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """The CLI as a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "listening.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A SQLite installation with the example organisation, a user, a key and some events."""
    path = tmp_path / "source.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTENING_")}
    env.update(
        LISTENING_DATABASE_URL=f"sqlite:///{path}",
        LISTENING_SECRET_KEY="s" * 40,
        PICCOLO_CONF="listening.piccolo_conf",
        LISTENING_PASSWORD="a long password",
    )
    for args in (
        ["migrate"],
        ["load", str(JOURNEY)],
        ["user", "create", "--email", "a@example.com", "--name", "Ann", "--role", "admin"],
        ["apikey", "create", "helpdesk", "--scope", "ingest"],
    ):
        done = run(args, env)
        assert done.returncode == 0, done.stderr
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO event (source_id, type, occurred_at, received_at, customer_external_id,"
            " attributes, outcome) VALUES (?, 'order.delivered', ?, ?, ?, ?, '[]')",
            [
                (
                    f"ev-{i}",
                    "2026-11-20 10:00:00+00:00",
                    "2026-11-20 10:00:01.250000+00:00",
                    f"c-{i % 7}",
                    json.dumps({"order": f"A-{i}", "note": "Grüße ☃"}),
                )
                for i in range(1234)
            ],
        )
        conn.execute(
            "INSERT INTO customer (external_id, email, created_at, opted_out_at) "
            "VALUES ('c-1', 'c1@example.com', '2026-11-20 10:00:00+00:00', NULL)"
        )
    return path, env


# --- backup -------------------------------------------------------------------------------


def test_backup_while_writes_happen(source, tmp_path) -> None:
    """A backup taken while another connection keeps committing is consistent and openable,
    and holds every row committed before it began."""
    path, env = source
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_write (n INTEGER PRIMARY KEY, pair INTEGER)")
    committed_before = threading.Event()
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        conn = sqlite3.connect(path, timeout=30)
        n = 0
        while not stop.is_set():
            # Two rows per transaction: a consistent copy never holds one without the other.
            with conn:
                conn.execute("INSERT INTO bench_write VALUES (?, ?)", (2 * n, n))
                conn.execute("INSERT INTO bench_write VALUES (?, ?)", (2 * n + 1, n))
            written.append(n)
            n += 1
            if n == 200:
                committed_before.set()
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert committed_before.wait(60)
        before = len(written)
        target = tmp_path / "backups" / "listening-backup.db"
        done = run(["backup", str(target)], env)
        after = len(written)
    finally:
        stop.set()
        thread.join()
    assert done.returncode == 0, done.stderr
    assert after > before, "the writer kept committing while the backup ran"
    assert "backup written" in done.stdout
    assert not Path(str(target) + "-wal").exists()
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = copy.execute("SELECT count(*), count(DISTINCT pair) FROM bench_write").fetchone()
        assert rows[0] == 2 * rows[1], "a transaction was copied half"
        assert rows[1] >= before
        assert copy.execute("SELECT count(*) FROM event").fetchone()[0] == 1234
        assert copy.execute("SELECT count(*) FROM department").fetchone()[0] == 5
    finally:
        copy.close()


def test_backup_on_postgresql_points_at_pg_dump(source, tmp_path) -> None:
    """On PostgreSQL the command explains pg_dump instead of pretending."""
    _, env = source
    pg_env = {**env, "LISTENING_DATABASE_URL": ADMIN_URL}
    done = run(["backup", str(tmp_path / "x.db")], pg_env)
    assert done.returncode != 0
    assert "pg_dump" in done.stderr
    assert not (tmp_path / "x.db").exists()


# --- copy to PostgreSQL -------------------------------------------------------------------


@pytest.fixture
async def target_url():
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    name = f"lp_copy_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield urlparse(ADMIN_URL)._replace(path=f"/{name}").geturl()
    admin = await asyncpg.connect(ADMIN_URL, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _sqlite_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


async def test_copy_moves_every_row_to_postgresql(source, target_url) -> None:
    """Every table arrives with its count, values keep their types, ids continue after the
    copied ones, and a second copy into the now non-empty target is refused."""
    path, env = source
    done = run(["copy", "--to", target_url], env)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "counts verified" in done.stdout

    expected = _sqlite_counts(path)
    conn = await asyncpg.connect(target_url, timeout=10)
    try:
        for table, count in expected.items():
            if table == "migration":
                continue
            assert await conn.fetchval(f'SELECT count(*) FROM "{table}"') == count, table
        assert expected["event"] == 1234 and expected["step"] > 0
        event = await conn.fetchrow("SELECT * FROM event WHERE source_id = 'ev-5'")
        assert event["received_at"].tzinfo is not None
        assert event["received_at"].microsecond == 250000
        assert json.loads(event["attributes"]) == {"order": "A-5", "note": "Grüße ☃"}
        step = await conn.fetchrow("SELECT active, moment_of_truth FROM step LIMIT 1")
        assert step["active"] is True
        customer = await conn.fetchrow("SELECT * FROM customer WHERE external_id = 'c-1'")
        assert customer["email"] == "c1@example.com" and customer["opted_out_at"] is None
        # Sequences continue after the copied ids: a new row gets a fresh id.
        max_id = await conn.fetchval("SELECT max(id) FROM department")
        new_id = await conn.fetchval(
            "INSERT INTO department (key, name, active) VALUES ('new', 'New', true) RETURNING id"
        )
        assert new_id == max_id + 1
        new_event = await conn.fetchval(
            "INSERT INTO event (source_id, type, occurred_at, received_at, customer_external_id,"
            " attributes, outcome) VALUES ('ev-new', 't', now(), now(), 'c', '{}', '[]') "
            "RETURNING id"
        )
        assert new_event == 1235
    finally:
        await conn.close()

    again = run(["copy", "--to", target_url], env)
    assert again.returncode != 0
    assert "not empty" in again.stderr


async def test_copy_refuses_a_sqlite_target(source) -> None:
    """--to must name PostgreSQL."""
    _, env = source
    done = run(["copy", "--to", "sqlite:///elsewhere.db"], env)
    assert done.returncode != 0
    assert "postgresql://" in done.stderr
