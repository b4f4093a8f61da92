"""The one way services open a writing transaction on either engine."""

from __future__ import annotations

from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from surveys.tables import Department


def write_transaction() -> Any:
    """A transaction for read-then-write work; on SQLite it takes the write lock at once.

    SQLite's default (deferred) transaction upgrades its read lock on the first write and fails
    with "database is locked" when another writer got there first; IMMEDIATE waits instead.
    """
    engine = Department._meta.db
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()
