"""Online backups of a SQLite installation while the server runs (SQLite's backup API).

PostgreSQL has its own tool for this: `pg_dump` (see the README).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from listening.db import SQLITE_BUSY_TIMEOUT_SECONDS
from listening.settings import DatabaseSettings

PG_DUMP_HINT = (
    "the database is PostgreSQL: back it up with its own tool, for example\n"
    '  pg_dump --format=custom --file=listening.dump "$LISTENING_DATABASE_URL"\n'
    "and restore into an empty database with\n"
    "  pg_restore --no-owner --dbname=<empty database URL> listening.dump"
)


class BackupError(RuntimeError):
    """The backup cannot be taken; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    """Where the backup went, its size, and how many tables it holds."""

    path: Path
    bytes: int
    tables: int


def backup_sqlite(source: Path, target: Path) -> BackupResult:
    """Copy a live SQLite database to `target` as one consistent, self-contained file.

    The backup API copies the database as of one read transaction: writers keep writing (WAL
    mode lets them), and the copy holds every transaction committed before it started and none
    after. It is written next to the target and renamed into place, so a crash never leaves a
    half-written file under the target's name.
    """
    if not source.exists():
        raise BackupError(f"no database at {source}")
    if target.resolve() == source.resolve():
        raise BackupError("the backup file must not be the database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
    dst = sqlite3.connect(partial)
    try:
        # pages=-1: the whole database in one step, so it is one snapshot.
        src.backup(dst, pages=-1)
        # One file, no -wal beside it: what a restore (or `listening copy`) expects.
        dst.execute("PRAGMA journal_mode=DELETE")
        problems = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if problems != "ok":
            raise BackupError(f"the copy failed its integrity check: {problems}")
        tables = dst.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    finally:
        dst.close()
        src.close()
    os.replace(partial, target)
    return BackupResult(path=target, bytes=target.stat().st_size, tables=tables[0])


def backup(database: DatabaseSettings, target: Path) -> BackupResult:
    """Back up the configured database to `target`; PostgreSQL answers with the pg_dump hint."""
    if database.engine != "sqlite":
        raise BackupError(PG_DUMP_HINT)
    assert database.sqlite_path is not None
    return backup_sqlite(database.sqlite_path, target)
