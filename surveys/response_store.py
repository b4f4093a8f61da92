"""The one write path of a customer response: its rows, written on either engine, batched or not.

`write_response` runs inside a writing transaction on a `Db`: Piccolo's connection for the
transaction (`PiccoloDb`), or the shell's batching SQLite writer, which the shell hands in with
`use_store` (surveys imports nothing of the shell). Statements take `{}` placeholders.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
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
# Only one submission moves the invitation to answered; a racing one finds it done.
_CLAIM = (
    "UPDATE invitation SET status = 'answered', answered_at = {}, "
    "opened_at = COALESCE(opened_at, {}) "
    "WHERE id = {} AND status NOT IN ('answered', 'expired') RETURNING id"
)
_STEP_CONTEXT = (
    "SELECT s.key, s.name, s.department, d.name AS department_name, d.follow_up_email "
    "FROM step s JOIN department d ON d.id = s.department WHERE s.id = {}"
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


def _insert(table: str, columns: Sequence[str], rows: int, returning: str = "") -> str:
    row = "(" + ", ".join(["{}"] * len(columns)) + ")"
    values = ", ".join([row] * rows)
    return f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES {values}{returning}'  # noqa: S608


def _flat(rows: Iterable[Sequence[Any]]) -> list[Any]:
    return [value for row in rows for value in row]


async def write_response(
    db: Db, rows: ResponseRows, *, customer_ref: str | None, notify: Notify
) -> Submitted:
    """Write a response's rows, its tallies, its follow-ups and their notices; claim its
    invitation first (Conflict when another submission did)."""
    now = rows.submitted_at
    if rows.invitation_id is not None and not await db.fetch(_CLAIM, now, now, rows.invitation_id):
        raise Conflict(ALREADY_ANSWERED, field="token")
    created = await db.fetch(
        _insert("response", RESPONSE_COLUMNS, 1, " RETURNING id"), *rows.response_values()
    )
    response_id = created[0]["id"]
    if rows.answers:
        await db.fetch(
            _insert("answer", ANSWER_COLUMNS, len(rows.answers)),
            *_flat((response_id, *a) for a in rows.answers),
        )
    if rows.segments:
        await db.fetch(
            _insert("response_segment", SEGMENT_COLUMNS, len(rows.segments)),
            *_flat((response_id, n, v) for n, v in rows.segments.items()),
        )
    if rows.tallies:
        await db.fetch(upsert_sql(len(rows.tallies)), *_flat(rows.tallies))
    follow_ups: list[tuple[int, Any]] = []
    if rows.alerts:
        step = (await db.fetch(_STEP_CONTEXT, rows.step_id))[0]
        insert = _insert("follow_up", FOLLOW_UP_COLUMNS, 1, " RETURNING id")
        for answer in rows.alerts:
            opened = await db.fetch(
                insert,
                *(response_id, rows.step_id, step["department"], answer.question.id),
                *(answer.score, "open", now, now),
            )
            follow_ups.append((opened[0]["id"], answer))
        notices = plan_notices(
            step=step,
            follow_ups=follow_ups,
            given=rows.given,
            response_id=response_id,
            source=rows.source,
            customer_ref=customer_ref,
            now=now,
            base_url=notify.base_url,
            webhook_url=notify.webhook_url,
        )
        if notices:
            await db.fetch(
                _insert("message", MESSAGE_COLUMNS, len(notices)),
                *_flat([*(n[c] for c in MESSAGE_COLUMNS[:-1]), 0] for n in notices),
            )
    return Submitted(response_id=response_id, follow_up_ids=[fid for fid, _ in follow_ups])
