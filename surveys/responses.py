"""Customer responses: opening an invitation link and storing its answers exactly once.

An invitation is found by the hash of its token. Opening it only marks it `opened` (mail
scanners follow every link, so a GET never stores an answer). Submitting stores the response,
its answers, its segments, the tallies and any follow-ups in one transaction, guarded by a
conditional update of the invitation's status and the unique `Response.invitation` column, so
two submissions racing each other store one response.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from surveys.answers import AskedQuestion, GivenAnswer, asked_question, validate_answers
from surveys.clock import Clock, system_clock
from surveys.errors import Conflict, Gone, Invalid, NotFound
from surveys.response_rows import response_rows
from surveys.response_store import (
    ALREADY_ANSWERED,
    Db,
    Notify,
    PiccoloDb,
    Submitted,
    ToWrite,
    batch_store,
    fast_store,
    write_response,
)
from surveys.tables import Invitation
from surveys.tokens import token_hash
from surveys.transactions import write_transaction

# Statuses from which opening a link moves the invitation to `opened`.
UNOPENED = ("scheduled", "sent", "failed")
TOKEN_MAX = 100


@dataclass(frozen=True)
class OpenInvitation:
    """An invitation as its survey page needs it."""

    id: int
    status: str
    survey_id: int
    step_id: int
    step_key: str
    step_name: str
    customer_id: int | None
    customer_ref: str | None
    locale: str | None
    expires_at: datetime
    raw_attributes: Any  # as stored; parsed only when a response is stored
    questions: list[AskedQuestion] = field(default_factory=list)

    @property
    def attributes(self) -> dict[str, Any]:
        """The event attributes the invitation kept, for the response's segments."""
        return _attributes(self.raw_attributes)

    @property
    def first_rating(self) -> AskedQuestion | None:
        """The first rating question: the one the invitation email offers as one-click links."""
        return next((q for q in self.questions if q.low is not None), None)


_LOOKUP = (
    "SELECT i.id, i.status, i.survey, i.step, i.customer, i.locale, i.attributes, "
    "i.expires_at, i.token_hash, s.key AS step_key, s.name AS step_name, v.fingerprint, "
    "c.locale AS customer_locale, c.external_id AS customer_ref "
    "FROM invitation i JOIN step s ON s.id = i.step JOIN survey v ON v.id = i.survey "
    "LEFT JOIN customer c ON c.id = i.customer WHERE i.token_hash = {}"
)
_QUESTIONS = (
    "SELECT id, key, kind, customer, low_label, high_label, options, required, position, "
    "higher_is_better, alert_threshold FROM question WHERE survey = {} ORDER BY position, id"
)
# What decides follow-ups but not the fingerprint: alert thresholds and their direction can
# change without a new version. Submissions read them with the invitation, in the same
# statement, and add them to the cache key, so a change applies to the very next submission.
_ALERTING = {
    "sqlite": "(SELECT group_concat(q.id || ':' || coalesce(q.alert_threshold, '') || ':' || "
    "q.higher_is_better || ':' || q.required, ',') FROM question q WHERE q.survey = i.survey)",
    "postgres": "(SELECT string_agg(q.id || ':' || coalesce(q.alert_threshold::text, '') || "
    "':' || q.higher_is_better || ':' || q.required, ',') FROM question q "
    "WHERE q.survey = i.survey)",
}
_LOOKUP_FRESH = {
    engine: _LOOKUP.replace(" FROM invitation i ", f", {rules} AS alerting FROM invitation i ")
    for engine, rules in _ALERTING.items()
}
# PostgreSQL's batching store reads the look-ups of concurrent requests in one query.
_LOOKUP_MANY = {
    fresh: sql.replace("i.token_hash = {}", "i.token_hash = ANY({})")
    for fresh, sql in ((False, _LOOKUP), (True, _LOOKUP_FRESH["postgres"]))
}
# Questions as asked, by (database, survey, fingerprint, locales): the fingerprint changes
# whenever what is asked changes, so a page never shows stale questions.
_ASKED_CACHE: dict[tuple[str, int, str, tuple], tuple[float, list[AskedQuestion]]] = {}
ASKED_TTL_SECONDS = 60.0


async def _lookup(hashed: str, *, fresh: bool) -> dict[str, Any] | None:
    engine = "sqlite" if Invitation._meta.db.engine_type == "sqlite" else "postgres"
    sql = _LOOKUP_FRESH[engine] if fresh else _LOOKUP
    store = fast_store()
    if store is not None:
        return store.read_one(sql, hashed)
    batch = batch_store()
    if batch is not None:
        return await batch.find(_LOOKUP_MANY[fresh], "token_hash", hashed)
    rows = await Invitation.raw(sql, hashed)
    return rows[0] if rows else None


async def _question_rows(survey_id: int) -> list[dict[str, Any]]:
    store = fast_store()
    if store is not None:
        return store.read_all(_QUESTIONS, survey_id)
    return await Invitation.raw(_QUESTIONS, survey_id)


async def _asked(survey_id: int, fingerprint: str, locales: tuple) -> list[AskedQuestion]:
    key = (str(getattr(Invitation._meta.db, "path", "pg")), survey_id, fingerprint, locales)
    now = time.monotonic()
    cached = _ASKED_CACHE.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    asked = [asked_question(r, locales) for r in await _question_rows(survey_id)]
    if len(_ASKED_CACHE) > 1000:
        _ASKED_CACHE.clear()
    _ASKED_CACHE[key] = (now + ASKED_TTL_SECONDS, asked)
    return asked


def _attributes(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw or "{}")
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


async def find_invitation(
    token: str, *, clock: Clock = system_clock, fresh: bool = False
) -> OpenInvitation:
    """The invitation of a token: 404 unknown, 409 answered, 410 expired.

    `fresh` checks the questions' alert thresholds in the database (submissions need the
    current ones; the page does not show them).
    """
    if not token or len(token) > TOKEN_MAX:
        raise NotFound("This page does not exist.")
    row = await _lookup(token_hash(token), fresh=fresh)
    if row is None:
        raise NotFound("This page does not exist.")
    if row["status"] == "answered":
        raise Conflict(ALREADY_ANSWERED, field="token")
    if row["status"] == "expired" or clock() >= row["expires_at"]:
        raise Gone("This survey link has expired.", field="token")
    locales = (row["locale"], row["customer_locale"])
    version = row["fingerprint"]
    if fresh:
        version = f"{version}|{row['alerting'] or ''}"
    questions = await _asked(row["survey"], version, locales)
    return OpenInvitation(
        id=row["id"],
        status=row["status"],
        survey_id=row["survey"],
        step_id=row["step"],
        step_key=row["step_key"],
        step_name=row["step_name"],
        customer_id=row["customer"],
        customer_ref=row["customer_ref"],
        locale=row["locale"] or row["customer_locale"],
        expires_at=row["expires_at"],
        raw_attributes=row["attributes"],
        questions=questions,
    )


_MARK_OPENED = (
    "UPDATE invitation SET status = 'opened', opened_at = {} "
    "WHERE id = {} AND status IN ('scheduled', 'sent', 'failed')"
)


async def open_invitation(token: str, *, clock: Clock = system_clock) -> OpenInvitation:
    """Find the invitation and mark it opened; never stores an answer."""
    invitation = await find_invitation(token, clock=clock)
    if invitation.status in UNOPENED:
        now = clock()

        async def mark(db: Db) -> None:
            await db.fetch(_MARK_OPENED, now, invitation.id)

        store = fast_store()
        if store is not None:
            await store.write(mark)
        else:
            await mark(PiccoloDb())
    return invitation


async def store_response(
    *,
    survey_id: int,
    step_id: int,
    given: Sequence[GivenAnswer],
    source: str,
    now: datetime,
    notify: Notify,
    locale: str | None = None,
) -> Submitted:
    """Write a response without an invitation (an unsolicited one); call in a transaction."""
    rows = response_rows(
        survey_id=survey_id, step_id=step_id, given=given, source=source, now=now, locale=locale
    )
    return await write_response(PiccoloDb(), rows, customer_ref=None, notify=notify)


async def submit_response(
    token: str,
    raw_answers: Mapping[str, Any],
    *,
    clock: Clock = system_clock,
    notify: Notify | None = None,
    ignore_unknown: bool = False,
) -> Submitted:
    """Validate and store the answers to an invitation, exactly once.

    Raises NotFound, Conflict (already answered), Gone (expired) or Invalid with an error per
    question; on any of them nothing is written.
    """
    invitation = await find_invitation(token, clock=clock, fresh=True)
    given, errors = validate_answers(
        invitation.questions, raw_answers, ignore_unknown=ignore_unknown
    )
    if errors:
        field_at_fault = next(iter(errors))
        raise Invalid(
            f"{field_at_fault}: {errors[field_at_fault]}", field=field_at_fault, errors=errors
        )
    notify = notify or Notify()
    rows = response_rows(
        survey_id=invitation.survey_id,
        step_id=invitation.step_id,
        given=given,
        source="invited",
        now=clock(),
        invitation_id=invitation.id,
        customer_id=invitation.customer_id,
        locale=invitation.locale,
        attributes=invitation.attributes,
    )

    async def write(db: Db) -> Submitted:
        return await write_response(db, rows, customer_ref=invitation.customer_ref, notify=notify)

    store = fast_store()
    if store is not None:
        # SQLite: group-committed with other submissions by the shell's one writer.
        return await store.write(write)
    batch = batch_store()
    if batch is not None:
        # PostgreSQL under a server: many submissions a transaction, in a few statements.
        return await batch.write(ToWrite(rows, invitation.customer_ref, notify))
    async with write_transaction():
        return await write(PiccoloDb())
