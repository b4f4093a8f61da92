"""Move a whole SQLite installation to PostgreSQL, for the user who outgrows one machine.

The target gets its schema from the migrations (the same ones `listening migrate` runs), then
every row of every table, parents before children, in chunks through PostgreSQL's COPY, in one
transaction; the id sequences are moved past the copied ids; each table's count is checked
against the source. A target that already holds rows is refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from listening.db import SQLITE_BUSY_TIMEOUT_SECONDS, postgres_config

CHUNK_ROWS = 5_000
MIGRATION_TABLE = "migration"


class CopyError(RuntimeError):
    """The copy cannot go ahead or did not verify; the message says why."""


@dataclass(frozen=True)
class CopyResult:
    """Rows copied per table, in the order they were copied."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        """All rows copied."""
        return sum(self.counts.values())


def table_names() -> list[str]:
    """Every table of the project's apps, parents before children."""
    from piccolo.conf.apps import Finder
    from piccolo.table import sort_table_classes

    return [t._meta.tablename for t in sort_table_classes(Finder().get_table_classes())]


def _timestamp(value: Any) -> Any:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _date(value: Any) -> Any:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _boolean(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() in {"1", "true", "t"}
    return bool(value)


def _json(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


# How a value read from SQLite becomes what asyncpg's COPY expects for the target's column type.
CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "timestamp with time zone": _timestamp,
    "timestamp without time zone": _timestamp,
    "date": _date,
    "boolean": _boolean,
    "json": _json,
    "jsonb": _json,
}


def _migrate_target(target_url: str, secret_key: str) -> None:
    """Run the migrations on the target, in a process of its own (Piccolo binds one engine)."""
    env = {
        **os.environ,
        "LISTENING_DATABASE_URL": target_url,
        "LISTENING_SECRET_KEY": secret_key,
        "PICCOLO_CONF": "listening.piccolo_conf",
    }
    done = subprocess.run(
        [sys.executable, "-m", "listening.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise CopyError(f"migrating the target failed:\n{done.stderr or done.stdout}")


def _sqlite_migrations(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute(f'SELECT name FROM "{MIGRATION_TABLE}"')}  # noqa: S608


def _chunks(cursor: sqlite3.Cursor) -> Iterator[list[tuple]]:
    while rows := cursor.fetchmany(CHUNK_ROWS):
        yield rows


async def _refuse_non_empty(conn: Any, tables: list[str]) -> None:
    present = {
        r["table_name"]
        for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    }
    for table in tables:
        if table in present and await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):  # noqa: S608
            raise CopyError(
                f"the target database is not empty (table {table} has rows); "
                "copy into a new, empty database"
            )


async def _column_types(conn: Any, table: str) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = $1",
        table,
    )
    return {r["column_name"]: r["data_type"] for r in rows}


async def copy_sqlite_to_postgres(
    source: Path,
    target_url: str,
    *,
    secret_key: str,
    progress: Callable[[str, int], None] | None = None,
) -> CopyResult:
    """Copy every row of the SQLite database `source` into the empty PostgreSQL `target_url`."""
    import asyncpg

    if not source.exists():
        raise CopyError(f"no SQLite database at {source}")
    tables = table_names()
    conn = await asyncpg.connect(**postgres_config(target_url), timeout=10)  # type: ignore[arg-type]
    try:
        await _refuse_non_empty(conn, tables)
    finally:
        await conn.close()
    _migrate_target(target_url, secret_key)
    src = sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
    conn = await asyncpg.connect(**postgres_config(target_url), timeout=10)  # type: ignore[arg-type]
    try:
        target_migrations = {r["name"] for r in await conn.fetch("SELECT name FROM migration")}
        if _sqlite_migrations(src) != target_migrations:
            raise CopyError(
                "the source database's schema is not at this version's migrations: run "
                "`listening migrate` on it first (with this version of Listening Post)"
            )
        # One snapshot of the source, one transaction on the target: all rows or none.
        src.execute("BEGIN")
        counts: dict[str, int] = {}
        async with conn.transaction():
            await _refuse_non_empty(conn, tables)
            for table in tables:
                counts[table] = await _copy_table(src, conn, table)
                if progress:
                    progress(table, counts[table])
            for table in tables:
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "  # noqa: S608
                    f'COALESCE(MAX(id), 0) + 1, false) FROM "{table}"'
                )
        for table in tables:
            copied = await conn.fetchval(f'SELECT count(*) FROM "{table}"')  # noqa: S608
            expected = src.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608
            if copied != expected:
                raise CopyError(f"{table}: {expected} rows in the source, {copied} in the target")
        src.rollback()
    finally:
        src.close()
        await conn.close()
    return CopyResult(counts=counts)


async def _copy_table(src: sqlite3.Connection, conn: Any, table: str) -> int:
    """Stream one table's rows into the target with COPY, converting types by target column."""
    target_types = await _column_types(conn, table)
    source_columns = [r[1] for r in src.execute(f'PRAGMA table_info("{table}")')]
    missing = set(target_types) - set(source_columns)
    if missing:
        raise CopyError(f"{table}: the source lacks columns {sorted(missing)}")
    columns = [c for c in source_columns if c in target_types]
    converters = [CONVERTERS.get(target_types[c], lambda v: v) for c in columns]
    selected = ", ".join(f'"{c}"' for c in columns)
    cursor = src.execute(f'SELECT {selected} FROM "{table}" ORDER BY rowid')  # noqa: S608
    copied = 0
    for rows in _chunks(cursor):
        records = [tuple(f(v) for f, v in zip(converters, row, strict=True)) for row in rows]
        await conn.copy_records_to_table(table, records=records, columns=columns)
        copied += len(records)
    return copied
