"""The one write path of a customer response: its rows, written on either engine, batched or not.

`write_responses` writes a batch of submissions (up to a few hundred) in the same few
statements as one; `write_response` is a batch of one. Either runs inside a writing transaction
on a `Db`: Piccolo's connection for the transaction (`PiccoloDb`), the shell's batching SQLite
writer (`use_store`), or PostgreSQL's batching store (`use_batch_store`); surveys imports
nothing of the shell. Statements take `{}` placeholders.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from surveys.errors import Conflict
from surveys.follow_ups import plan_notices
from surveys.response_rows import ResponseRows
from surveys.tables import Invitation, Response
from surveys.tallies import upsert_sql

T = TypeVar("T")

RESPONSE_COLUMNS = (
    "survey",
    "step",
    "invitation",
    "customer",
    "source",
    "locale",
    "attributes",
    "submitted_at",
)
ANSWER_COLUMNS = ("response", "question", "score", "choice", "text")
SEGMENT_COLUMNS = ("response", "name", "value")
FOLLOW_UP_COLUMNS = (
    "response",
    "step",
    "department",
    "question",
    "score",
    "status",
    "created_at",
    "updated_at",
)
MESSAGE_COLUMNS = (
    "uid",
    "kind",
    "channel",
    "recipient",
    "subject",
    "body_text",
    "body_html",
    "payload",
    "status",
    "next_attempt_at",
    "created_at",
    "attempts",
)
# A response claims its invitation: only the submission whose response row went in moves it to
# answered (the unique index on response.invitation turns a racing twin away first).
_CLAIM = (
    "UPDATE invitation SET status = 'answered', answered_at = response.submitted_at, "
    "opened_at = COALESCE(invitation.opened_at, response.submitted_at) FROM response "
    "WHERE response.invitation = invitation.id AND response.id IN ({ids}) "
    "AND invitation.status NOT IN ('answered', 'expired') RETURNING invitation.id AS id"
)
_STEP_CONTEXT = (
    "SELECT s.id, s.key, s.name, s.department, d.name AS department_name, d.follow_up_email "
    "FROM step s JOIN department d ON d.id = s.department WHERE s.id IN ({ids})"
)
ALREADY_ANSWERED = "You have already answered this survey. Thank you!"


@dataclass(frozen=True)
class Notify:
    """Where follow-up notices point and go: the public base URL and the webhook, if any."""

    base_url: str | None = None
    webhook_url: str | None = None


@dataclass(frozen=True)
class Submitted:
    """A stored response and the follow-ups it opened."""

    response_id: int
    follow_up_ids: list[int]


class Db(Protocol):
    """A connection inside an open writing transaction."""

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run one statement ({} placeholders); its rows as dicts."""
        ...


class PiccoloDb:
    """The configured engine through Piccolo, inside the current transaction."""

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run one statement through Piccolo's raw query."""
        return await Response.raw(sql, *args)


class FastStore(Protocol):
    """The shell's kept-open reader and batching writer of a SQLite file."""

    def read_one(self, sql: str, *args: Any) -> dict[str, Any] | None:
        """The first row of a point look-up ({} placeholders)."""
        ...

    def read_all(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Every row of a small read."""
        ...

    async def write(self, work: Callable[[Db], Awaitable[T]]) -> T:
        """Run `work` in the next group-committed transaction; its result once committed."""
        ...


def _no_store(engine: Any) -> FastStore | None:
    return None


_store_of: Callable[[Any], FastStore | None] = _no_store


def use_store(store_of: Callable[[Any], FastStore | None]) -> None:
    """Install the shell's fast store for an engine (None where Piccolo serves alone)."""
    global _store_of
    _store_of = store_of


def fast_store() -> FastStore | None:
    """The fast store of the configured engine, if the shell gave one."""
    return _store_of(Invitation._meta.db)


@dataclass(frozen=True)
class ToWrite:
    """One submission for the writer: its rows, who answered (for notices) and where notices go."""

    rows: ResponseRows
    customer_ref: str | None
    notify: Notify


class BatchStore(Protocol):
    """The shell's batching reader and writer of survey links (PostgreSQL's, under a server)."""

    async def find(self, sql: str, column: str, key: Any) -> dict[str, Any] | None:
        """The row whose `column` is `key`; concurrent look-ups of one statement are read in
        one query, `sql` taking their keys as one array parameter."""
        ...

    async def write(self, item: ToWrite) -> Submitted:
        """Write one submission in the next batch; what it stored once committed."""
        ...


# Per event loop: a store's connections and queues belong to the loop of the server that
# started it, and a process may run more than one (a test's in-process app beside a live one).
_batch_stores: dict[asyncio.AbstractEventLoop, BatchStore] = {}


def use_batch_store(store: BatchStore | None) -> None:
    """Install (or, with None, remove) the batching store of the running event loop."""
    loop = asyncio.get_running_loop()
    if store is None:
        _batch_stores.pop(loop, None)
    else:
        _batch_stores[loop] = store


def batch_store() -> BatchStore | None:
    """The running loop's batching store of survey links, if the shell installed one."""
    return _batch_stores.get(asyncio.get_running_loop())


def _insert(table: str, columns: Sequence[str], rows: int, returning: str = "") -> str:
    row = "(" + ", ".join(["{}"] * len(columns)) + ")"
    values = ", ".join([row] * rows)
    return f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES {values}{returning}'  # noqa: S608


def _flat(rows: Iterable[Sequence[Any]]) -> list[Any]:
    return [value for row in rows for value in row]


def _marks(count: int) -> str:
    return ", ".join(["{}"] * count)


# Parameters a statement may carry: below PostgreSQL's 32,767 and SQLite's 32,766.
MAX_PARAMETERS = 30_000


def _chunks(rows: Sequence[Sequence[Any]], width: int) -> Iterator[Sequence[Sequence[Any]]]:
    """The rows in order, in as few parts as fit a statement at `width` parameters a row."""
    per_statement = MAX_PARAMETERS // width
    for start in range(0, len(rows), per_statement):
        yield rows[start : start + per_statement]


async def _insert_rows(
    db: Db, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], returning: str = ""
) -> list[dict[str, Any]]:
    """Insert rows in as few statements as the parameter limit allows; the returned rows."""
    returned: list[dict[str, Any]] = []
    for chunk in _chunks(rows, len(columns)):
        returned += await db.fetch(_insert(table, columns, len(chunk), returning), *_flat(chunk))
    return returned


async def write_responses(db: Db, batch: Sequence[ToWrite]) -> list[Submitted | Conflict]:
    """Write a batch of responses in a few statements, whatever its size: rows, answers,
    segments, follow-ups and their notices, and the tallies last (their rows are the ones every
    submission shares, so their locks are held only until the commit that follows).

    Each answer's outcome comes back in order: what it stored, or Conflict where its invitation
    was answered already (by an earlier item of the batch, or by another transaction).
    """
    outcomes: list[Submitted | Conflict | None] = [None] * len(batch)
    seen: set[int] = set()
    live: list[int] = []
    for i, item in enumerate(batch):
        invitation = item.rows.invitation_id
        if invitation is not None and invitation in seen:
            outcomes[i] = Conflict(ALREADY_ANSWERED, field="token")
            continue
        if invitation is not None:
            seen.add(invitation)
        live.append(i)
    # In invitation order: two batches holding the same invitations wait on each other's
    # unique-index entries in one order, not in a deadlock.
    live.sort(key=lambda i: batch[i].rows.invitation_id or 0)
    response_ids = await _insert_responses(db, [batch[i].rows for i in live])
    stored = [(i, rid) for i, rid in zip(live, response_ids, strict=True) if rid is not None]
    invited = {rid: batch[i].rows.invitation_id for i, rid in stored if batch[i].rows.invitation_id}
    claimed = await _claim(db, list(invited))
    # A response whose invitation expired (or was answered) meanwhile goes again.
    lost = [rid for rid, invitation in invited.items() if invitation not in claimed]
    if lost:
        await db.fetch(f'DELETE FROM "response" WHERE id IN ({_marks(len(lost))})', *lost)  # noqa: S608
    written = [(i, rid) for i, rid in stored if rid not in lost]
    for i, rid in zip(live, response_ids, strict=True):
        if rid is None or rid in lost:
            outcomes[i] = Conflict(ALREADY_ANSWERED, field="token")
    answers = [(rid, *a) for i, rid in written for a in batch[i].rows.answers]
    await _insert_rows(db, "answer", ANSWER_COLUMNS, answers)
    segments = [(rid, n, v) for i, rid in written for n, v in batch[i].rows.segments.items()]
    await _insert_rows(db, "response_segment", SEGMENT_COLUMNS, segments)
    follow_ups = await _open_follow_ups(db, [(batch[i], rid) for i, rid in written])
    for i, rid in written:
        outcomes[i] = Submitted(response_id=rid, follow_up_ids=follow_ups.get(rid, []))
    tallies: Counter[tuple] = Counter()
    for i, _ in written:
        for *key, count in batch[i].rows.tallies:
            tallies[tuple(key)] += count
    if tallies:
        # One row per key, in key order: concurrent batches take the shared rows' locks in the
        # same order and cannot deadlock.
        rows = [(*key, count) for key, count in sorted(tallies.items())]
        for chunk in _chunks(rows, len(rows[0])):
            await db.fetch(upsert_sql(len(chunk)), *_flat(chunk))
    return [outcome for outcome in outcomes if outcome is not None]


async def write_response(
    db: Db, rows: ResponseRows, *, customer_ref: str | None, notify: Notify
) -> Submitted:
    """Write one response (a batch of one); Conflict when its invitation was answered."""
    (outcome,) = await write_responses(db, [ToWrite(rows, customer_ref, notify)])
    if isinstance(outcome, Conflict):
        raise outcome
    return outcome


async def _insert_responses(db: Db, rows: Sequence[ResponseRows]) -> list[int | None]:
    """The new responses' ids in `rows` order; None where the invitation has a response."""
    if not rows:
        return []
    returned = await _insert_rows(
        db,
        "response",
        RESPONSE_COLUMNS,
        [r.response_values() for r in rows],
        ' ON CONFLICT ("invitation") DO NOTHING RETURNING id, invitation',
    )
    by_invitation = {r["invitation"]: r["id"] for r in returned if r["invitation"] is not None}
    # Rows without an invitation never conflict; both engines number a multi-row insert in
    # its VALUES order (and chunks run in order), so their ids, ascending, pair with them.
    unsolicited = iter(sorted(r["id"] for r in returned if r["invitation"] is None))
    return [
        next(unsolicited) if r.invitation_id is None else by_invitation.get(r.invitation_id)
        for r in rows
    ]


async def _claim(db: Db, response_ids: Sequence[int]) -> set[int]:
    """Move the responses' invitations to answered; the invitations this claim moved."""
    if not response_ids:
        return set()
    sql = _CLAIM.replace("{ids}", _marks(len(response_ids)))
    return {r["id"] for r in await db.fetch(sql, *response_ids)}


def _follow_up_row(response_id: int, rows: ResponseRows, department: int, answer: Any) -> tuple:
    """A follow-up row in FOLLOW_UP_COLUMNS order."""
    now = rows.submitted_at
    return (
        response_id,
        rows.step_id,
        department,
        answer.question.id,
        answer.score,
        "open",
        now,
        now,
    )


async def _open_follow_ups(db: Db, written: Sequence[tuple[ToWrite, int]]) -> dict[int, list[int]]:
    """Open a follow-up per alerting answer and queue their notices; ids per response."""
    alerting = [(item, rid) for item, rid in written if item.rows.alerts]
    if not alerting:
        return {}
    step_ids = sorted({item.rows.step_id for item, _ in alerting})
    steps = {
        s["id"]: s
        for s in await db.fetch(_STEP_CONTEXT.replace("{ids}", _marks(len(step_ids))), *step_ids)
    }
    values = [
        _follow_up_row(rid, item.rows, steps[item.rows.step_id]["department"], answer)
        for item, rid in alerting
        for answer in item.rows.alerts
    ]
    opened = await _insert_rows(
        db, "follow_up", FOLLOW_UP_COLUMNS, values, " RETURNING id, response, question"
    )
    ids = {(r["response"], r["question"]): r["id"] for r in opened}
    found: dict[int, list[int]] = {}
    notices: list[dict[str, Any]] = []
    for item, rid in alerting:
        rows = item.rows
        follow_ups = [(ids[(rid, a.question.id)], a) for a in rows.alerts]
        found[rid] = [fid for fid, _ in follow_ups]
        notices += plan_notices(
            step=steps[rows.step_id],
            follow_ups=follow_ups,
            given=rows.given,
            response_id=rid,
            source=rows.source,
            customer_ref=item.customer_ref,
            now=rows.submitted_at,
            base_url=item.notify.base_url,
            webhook_url=item.notify.webhook_url,
        )
    messages = [[*(n[c] for c in MESSAGE_COLUMNS[:-1]), 0] for n in notices]
    await _insert_rows(db, "message", MESSAGE_COLUMNS, messages)
    return found
