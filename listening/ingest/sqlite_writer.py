"""The batch transaction on SQLite: reads what the planner needs, writes what it decided.

It runs in the writer process (`listening.writer_process`), inside `BEGIN IMMEDIATE`: that
holds SQLite's write lock, so nothing else inserts meanwhile; new rows get their ids here
(max + 1), and every write is one `executemany`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from listening.ingest.answers import Outcome, encode_text
from listening.ingest.batch import Batch
from listening.ingest.jobs import Work
from listening.ingest.planner import (
    CUSTOMER_COLUMNS,
    INVITATION_COLUMNS,
    BatchPlan,
    StoredCustomer,
    emails_to_check,
    forget_erased,
    invitation_row,
    mark_suppressed,
    merge_customers,
    plan_batch,
    plan_customers,
    pseudonyms,
)
from listening.triggers import RULES_SQL, Rules, rules_from_rows
from surveys.privacy import ERASED_PREFIX

CUSTOMER_INSERT = (
    "INSERT INTO customer (id, external_id, email, name, locale, time_zone, last_invited_at, "
    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
CUSTOMER_UPDATE = (
    "UPDATE customer SET email = ?, name = ?, locale = ?, time_zone = ?, last_invited_at = ? "
    "WHERE id = ?"
)
EVENT_INSERT = (
    "INSERT INTO event (id, source_id, type, occurred_at, received_at, customer_external_id, "
    "attributes, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
INVITATION_INSERT = (
    f"INSERT INTO invitation ({INVITATION_COLUMNS}) "  # noqa: S608
    f"VALUES ({','.join('?' * (INVITATION_COLUMNS.count(',') + 1))})"
)
# Erased customers' ids all start with ERASED_PREFIX ("erased:"); ";" follows ":" in ASCII.
_ANY_ERASED = "SELECT 1 FROM customer WHERE external_id >= ? AND external_id < ? LIMIT 1"
_STORED_CUSTOMERS = f"SELECT {CUSTOMER_COLUMNS} FROM customer WHERE external_id IN ({{}})"  # noqa: S608


class SqliteTimes(dict):
    """Timestamps in the form Piccolo's SQLite adapter stores (UTC, str()), each made once.

    Most events of a batch share their received, send and expiry times, and str() of a
    datetime costs more than the insert of the row it goes into. Called for a moment (or None);
    a dictionary look-up once the moment was seen.
    """

    __call__ = dict.__getitem__

    def __init__(self) -> None:
        super().__init__({None: None})

    def __missing__(self, moment: datetime) -> str:
        text = self[moment] = str(moment.astimezone(UTC))
        return text


@dataclass
class RulesCache:
    """The writer's rules: read in every transaction, rebuilt only when their rows changed."""

    rows: list[tuple] = field(default_factory=list)
    rules: Rules = field(default_factory=lambda: rules_from_rows([]))

    def read(self, conn: sqlite3.Connection) -> Rules:
        """The rules as stored now."""
        rows = conn.execute(RULES_SQL).fetchall()
        if rows != self.rows:
            self.rows, self.rules = rows, rules_from_rows(rows)
        return self.rules


def _select_in(conn: sqlite3.Connection, sql: str, values: list) -> Iterator[tuple]:
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        yield from conn.execute(sql.format(",".join("?" * len(chunk))), chunk)


def apply_sqlite(
    conn: sqlite3.Connection,
    works: list[Work],
    secret_key: str,
    rules_cache: RulesCache | None = None,
) -> list[list[Outcome] | str]:
    """Store a batch of works in the open transaction; each work's outcomes or UNAUTHORIZED."""
    batch = Batch(works)
    hashes = batch.key_hashes()
    if hashes:
        batch.live_keys = {
            r[0]
            for r in _select_in(
                conn,
                "SELECT key_hash FROM api_key WHERE revoked_at IS NULL AND key_hash IN ({})",
                hashes,
            )
        }
    batch.collect()
    if not batch.first_occurrence:
        return batch.results()
    for source_id, outcome in _select_in(
        conn,
        "SELECT source_id, outcome FROM event WHERE source_id IN ({})",
        list(batch.first_occurrence),
    ):
        batch.stored_outcomes[source_id] = json.loads(outcome)
    new_ids = batch.new_ids()
    if not new_ids:
        return batch.results()
    rules = (rules_cache or RulesCache()).read(conn)
    # Most databases hold no erased customer: one index probe spares a keyed hash per event.
    if conn.execute(_ANY_ERASED, (ERASED_PREFIX, ERASED_PREFIX[:-1] + ";")).fetchone():
        of_pseudonym = pseudonyms(batch, new_ids, secret_key)
        erased = _select_in(
            conn, "SELECT external_id FROM customer WHERE external_id IN ({})", list(of_pseudonym)
        )
        forget_erased(batch, new_ids, {of_pseudonym[r[0]] for r in erased}, secret_key)
    merged = merge_customers(batch.events[i] for i in new_ids)
    stored = {
        row[1]: StoredCustomer(*row) for row in _select_in(conn, _STORED_CUSTOMERS, list(merged))
    }
    next_customer = (conn.execute("SELECT max(id) FROM customer").fetchone()[0] or 0) + 1
    customers = plan_customers(merged, stored, next_customer)
    if rules.send_email():
        found = _select_in(
            conn, "SELECT email FROM suppression WHERE email IN ({})", emails_to_check(customers)
        )
        mark_suppressed(customers, {r[0] for r in found})
    plan = plan_batch(batch, new_ids, customers, rules, secret_key)
    _write(conn, batch, new_ids, plan)
    return batch.results()


def _write(conn: sqlite3.Connection, batch: Batch, new_ids: list[str], plan: BatchPlan) -> None:
    when = SqliteTimes()
    next_event = (conn.execute("SELECT max(id) FROM event").fetchone()[0] or 0) + 1
    event_ids = {source_id: next_event + n for n, source_id in enumerate(new_ids)}
    conn.executemany(
        EVENT_INSERT,
        [
            (
                event_ids[source_id],
                source_id,
                (event := batch.events[source_id]).type,
                when(event.occurred_at),
                when(batch.received_at[source_id]),
                event.customer.id,
                batch.attributes(source_id),
                encode_text(batch.new_outcomes[source_id]),
            )
            for source_id in new_ids
        ],
    )
    created = when(batch.received_at[new_ids[0]])
    conn.executemany(
        CUSTOMER_INSERT,
        [
            (
                c.state.id,
                c.external_id,
                c.state.email,
                c.name,
                c.state.locale,
                c.state.time_zone,
                when(c.state.last_invited_at),
                created,
            )
            for c in plan.new_customers
        ],
    )
    conn.executemany(
        CUSTOMER_UPDATE,
        [
            (
                c.state.email,
                c.name,
                c.state.locale,
                c.state.time_zone,
                when(c.state.last_invited_at),
                c.state.id,
            )
            for c in plan.changed_customers
        ],
    )
    if plan.invitations:
        conn.executemany(
            INVITATION_INSERT,
            [
                (*invitation_row(i, when), event_ids[i.source_id], i.customer.state.id)
                for i in plan.invitations
            ],
        )
