"""Database engines for SQLite and PostgreSQL, chosen by one setting."""

from __future__ import annotations

import sqlite3
from urllib.parse import unquote, urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from listening.settings import DatabaseSettings

# Writers wait for each other instead of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


def postgres_config(url: str) -> dict[str, object]:
    """asyncpg connection arguments for a postgresql:// URL."""
    parsed = urlparse(url)
    config: dict[str, object] = {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 5432,
        "database": parsed.path.lstrip("/"),
        "user": unquote(parsed.username) if parsed.username else "postgres",
    }
    if parsed.password:
        config["password"] = unquote(parsed.password)
    return config


def make_engine(database: DatabaseSettings) -> Engine:
    """A Piccolo engine for the configured database."""
    if database.engine == "sqlite":
        assert database.sqlite_path is not None
        prepare_sqlite_file(str(database.sqlite_path))
        return SQLiteEngine(path=str(database.sqlite_path), timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
    return PostgresEngine(config=postgres_config(database.url))


def prepare_sqlite_file(path: str) -> None:
    """Put a SQLite file in WAL mode, which lets readers run beside the one writer."""
    with sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def engine_name(engine: Engine) -> str:
    """'sqlite' or 'postgresql', as /health reports it."""
    return "sqlite" if engine.engine_type == "sqlite" else "postgresql"
