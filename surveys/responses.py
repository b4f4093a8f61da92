"""Customer responses: opening an invitation link and storing its answers exactly once.

An invitation is found by the hash of its token. Opening it only marks it `opened` (mail
scanners follow every link, so a GET never stores an answer). Submitting stores the response,
its answers, its segments, the tallies and any follow-ups in one transaction, guarded by a
conditional update of the invitation's status and the unique `Response.invitation` column, so
two submissions racing each other store one response.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from surveys.answers import AskedQuestion, GivenAnswer, asked_question, validate_answers
from surveys.clock import Clock, system_clock
from surveys.errors import Conflict, Gone, Invalid, NotFound
from surveys.follow_ups import alerting, open_follow_ups, plan_notices
from surveys.sqlite_batch import batch_for
from surveys.tables import Answer, Invitation, Response, ResponseSegment
from surveys.tallies import add_counts, response_source
from surveys.tokens import token_hash
from surveys.transactions import write_transaction

# Statuses from which opening a link moves the invitation to `opened`.
UNOPENED = ("scheduled", "sent", "failed")
TOKEN_MAX = 100
SEGMENT_NAME_MAX = 100
SEGMENT_VALUE_MAX = 200


@dataclass(frozen=True)
class Notify:
    """Where follow-up notices point and go: the public base URL and the webhook, if any."""

    base_url: str | None = None
    webhook_url: str | None = None


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


@dataclass(frozen=True)
class Submitted:
    """A stored response and the follow-ups it opened."""

    response_id: int
    follow_up_ids: list[int]


_LOOKUP = (
    "SELECT i.id, i.status, i.survey, i.step, i.customer, i.locale, i.attributes, "
    "i.expires_at, s.key AS step_key, s.name AS step_name, v.fingerprint, "
    "c.locale AS customer_locale, c.external_id AS customer_ref "
    "FROM invitation i JOIN step s ON s.id = i.step JOIN survey v ON v.id = i.survey "
    "LEFT JOIN customer c ON c.id = i.customer WHERE i.token_hash = {}"
)
_QUESTIONS = (
    "SELECT id, key, kind, customer, low_label, high_label, options, required, position, "
    "higher_is_better, alert_threshold FROM question WHERE survey = {} ORDER BY position, id"
)
# What decides follow-ups but not the fingerprint: alert thresholds and their direction can
# change without a new version. Submissions add them to the cache key, so a change applies
# to the very next submission.
_ALERTING = {
    "sqlite": "SELECT group_concat(id || ':' || coalesce(alert_threshold, '') || ':' || "
    "higher_is_better || ':' || required, ',') FROM question WHERE survey = ?",
    "postgres": "SELECT string_agg(id || ':' || coalesce(alert_threshold::text, '') || ':' || "
    "higher_is_better || ':' || required, ',') AS t FROM question WHERE survey = {}",
}
# Questions as asked, by (database, survey, fingerprint, locales): the fingerprint changes
# whenever what is asked changes, so a page never shows stale questions.
_ASKED_CACHE: dict[tuple[str, int, str, tuple], tuple[float, list[AskedQuestion]]] = {}
ASKED_TTL_SECONDS = 60.0


def _sqlite(sql: str) -> str:
    return sql.replace("{}", "?")


async def _lookup(hashed: str) -> dict[str, Any] | None:
    batch = batch_for(Invitation._meta.db)
    if batch is not None:
        return batch.read_one(_sqlite(_LOOKUP), (hashed,))
    rows = await Invitation.raw(_LOOKUP, hashed)
    return rows[0] if rows else None


async def _question_rows(survey_id: int) -> list[dict[str, Any]]:
    batch = batch_for(Invitation._meta.db)
    if batch is not None:
        return batch.read_all(_sqlite(_QUESTIONS), (survey_id,))
    return await Invitation.raw(_QUESTIONS, survey_id)


async def _alerting_rules(survey_id: int) -> str:
    batch = batch_for(Invitation._meta.db)
    if batch is not None:
        row = batch.read_one(_ALERTING["sqlite"], (survey_id,))
    else:
        rows = await Invitation.raw(_ALERTING["postgres"], survey_id)
        row = rows[0] if rows else None
    return str(next(iter(row.values()))) if row else ""


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
    row = await _lookup(token_hash(token))
    if row is None:
        raise NotFound("This page does not exist.")
    if row["status"] == "answered":
        raise Conflict("You have already answered this survey. Thank you!", field="token")
    if row["status"] == "expired" or clock() >= row["expires_at"]:
        raise Gone("This survey link has expired.", field="token")
    locales = (row["locale"], row["customer_locale"])
    version = row["fingerprint"]
    if fresh:
        version = f"{version}|{await _alerting_rules(row['survey'])}"
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
    "UPDATE invitation SET status = 'opened', opened_at = ? "
    "WHERE id = ? AND status IN ('scheduled', 'sent', 'failed')"
)


async def open_invitation(token: str, *, clock: Clock = system_clock) -> OpenInvitation:
    """Find the invitation and mark it opened; never stores an answer."""
    invitation = await find_invitation(token, clock=clock)
    if invitation.status in UNOPENED:
        now = clock()
        batch = batch_for(Invitation._meta.db)
        if batch is not None:
            await batch.write(lambda conn: conn.execute(_MARK_OPENED, (now, invitation.id)))
        else:
            await Invitation.update({Invitation.status: "opened", Invitation.opened_at: now}).where(
                (Invitation.id == invitation.id) & Invitation.status.is_in(list(UNOPENED))
            )
    return invitation


def segments_of(attributes: Mapping[str, Any]) -> dict[str, str]:
    """The event attributes a response keeps for filtering, as short strings."""
    found: dict[str, str] = {}
    for name, value in attributes.items():
        if value is None or isinstance(value, dict | list):
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        found[str(name)[:SEGMENT_NAME_MAX]] = text[:SEGMENT_VALUE_MAX]
    return found


async def store_response(
    *,
    survey_id: int,
    step_id: int,
    given: Sequence[GivenAnswer],
    source: str,
    now: datetime,
    notify: Notify,
    invitation_id: int | None = None,
    customer_id: int | None = None,
    customer_ref: str | None = None,
    locale: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Submitted:
    """Write a response, its answers, segments, tallies and follow-ups; call in a transaction."""
    segments = segments_of(attributes or {})
    created = await Response.insert(
        Response(
            survey=survey_id,
            step=step_id,
            invitation=invitation_id,
            customer=customer_id,
            source=source,
            locale=locale,
            attributes=json.dumps(segments, ensure_ascii=False),
            submitted_at=now,
        )
    ).returning(Response.id)
    response_id = created[0]["id"]
    if given:
        await Answer.insert(
            *(
                Answer(
                    response=response_id,
                    question=a.question.id,
                    score=a.score,
                    choice=a.choice,
                    text=a.text,
                )
                for a in given
            )
        )
    if segments:
        await ResponseSegment.insert(
            *(ResponseSegment(response=response_id, name=n, value=v) for n, v in segments.items())
        )
    tally_source = response_source(source)
    counts = Counter(
        (step_id, a.question.id, tally_source, 0, now.date(), a.score)
        for a in given
        if a.score is not None
    )
    await add_counts(counts)
    follow_ups = await open_follow_ups(
        response_id=response_id,
        step_id=step_id,
        given=given,
        source=source,
        customer_ref=customer_ref,
        now=now,
        base_url=notify.base_url,
        webhook_url=notify.webhook_url,
    )
    return Submitted(response_id=response_id, follow_up_ids=follow_ups)


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
        first = next(iter(errors))
        raise Invalid(f"{first}: {errors[first]}", field=first, errors=errors)
    now = clock()
    notify = notify or Notify()
    batch = batch_for(Invitation._meta.db)
    if batch is not None:
        # SQLite: group-committed with other submissions by the one writer.
        return await batch.write(lambda conn: _store_in_batch(conn, invitation, given, now, notify))
    async with write_transaction():
        # Only one submission can move the invitation to answered; a racing one finds it done.
        claimed = (
            await Invitation.update({Invitation.status: "answered", Invitation.answered_at: now})
            .where(
                (Invitation.id == invitation.id) & Invitation.status.not_in(["answered", "expired"])
            )
            .returning(Invitation.id)
        )
        if not claimed:
            raise Conflict("You have already answered this survey. Thank you!", field="token")
        if invitation.status in UNOPENED:
            await Invitation.update({Invitation.opened_at: now}).where(
                (Invitation.id == invitation.id) & Invitation.opened_at.is_null()
            )
        return await store_response(
            survey_id=invitation.survey_id,
            step_id=invitation.step_id,
            given=given,
            source="invited",
            now=now,
            notify=notify,
            invitation_id=invitation.id,
            customer_id=invitation.customer_id,
            customer_ref=invitation.customer_ref,
            locale=invitation.locale,
            attributes=invitation.attributes,
        )


_CLAIM = (
    "UPDATE invitation SET status = 'answered', answered_at = ?, "
    "opened_at = COALESCE(opened_at, ?) WHERE id = ? AND status NOT IN ('answered', 'expired')"
)
_TALLY = (
    'INSERT INTO "tally" ("step", "question", "source", "round_id", "day", "level", "count") '
    "VALUES (?, ?, ?, 0, ?, ?, ?) "
    'ON CONFLICT ("question", "source", "round_id", "day", "level") '
    'DO UPDATE SET "count" = "tally"."count" + excluded."count"'
)


_STEP_CONTEXT = (
    "SELECT s.key, s.name, s.department, d.name AS department_name, d.follow_up_email "
    "FROM step s JOIN department d ON d.id = s.department WHERE s.id = ?"
)
_FOLLOW_UP = (
    "INSERT INTO follow_up (response, step, department, question, score, status, created_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)"
)
_MESSAGE_FIELDS = (
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
)
_MESSAGE = (
    "INSERT INTO message (uid, kind, channel, recipient, subject, body_text, body_html, payload, "
    "status, next_attempt_at, created_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"
)


def _store_in_batch(
    conn: sqlite3.Connection,
    invitation: OpenInvitation,
    given: Sequence[GivenAnswer],
    now: datetime,
    notify: Notify,
) -> Submitted:
    """`submit_response`'s writes for SQLite's batching writer, in plain SQL.

    The same rows as `store_response` and `open_follow_ups` write, with the step's context
    (what `step_context` reads) read in the same transaction when an answer opens a follow-up.
    """
    if conn.execute(_CLAIM, (now, now, invitation.id)).rowcount != 1:
        raise Conflict("You have already answered this survey. Thank you!", field="token")
    segments = segments_of(invitation.attributes)
    cursor = conn.execute(
        "INSERT INTO response (survey, step, invitation, customer, source, locale, attributes, "
        "submitted_at) VALUES (?, ?, ?, ?, 'invited', ?, ?, ?)",
        (
            invitation.survey_id,
            invitation.step_id,
            invitation.id,
            invitation.customer_id,
            invitation.locale,
            json.dumps(segments, ensure_ascii=False),
            now,
        ),
    )
    response_id = cursor.lastrowid
    conn.executemany(
        "INSERT INTO answer (response, question, score, choice, text) VALUES (?, ?, ?, ?, ?)",
        [(response_id, a.question.id, a.score, a.choice, a.text) for a in given],
    )
    conn.executemany(
        "INSERT INTO response_segment (response, name, value) VALUES (?, ?, ?)",
        [(response_id, n, v) for n, v in segments.items()],
    )
    counts = Counter((a.question.id, a.score) for a in given if a.score is not None)
    conn.executemany(
        _TALLY,
        [
            (invitation.step_id, question, response_source("invited"), now.date(), level, n)
            for (question, level), n in sorted(counts.items())
        ],
    )
    follow_ups: list[tuple[int, GivenAnswer]] = []
    if alerting(given):
        step = dict(conn.execute(_STEP_CONTEXT, (invitation.step_id,)).fetchone())
        for answer in alerting(given):
            follow_up = conn.execute(
                _FOLLOW_UP,
                (
                    response_id,
                    invitation.step_id,
                    step["department"],
                    answer.question.id,
                    answer.score,
                    now,
                    now,
                ),
            )
            follow_ups.append((follow_up.lastrowid, answer))
        notices = plan_notices(
            step=step,
            follow_ups=follow_ups,
            given=given,
            response_id=response_id,
            source="invited",
            customer_ref=invitation.customer_ref,
            now=now,
            base_url=notify.base_url,
            webhook_url=notify.webhook_url,
        )
        conn.executemany(_MESSAGE, [tuple(n[f] for f in _MESSAGE_FIELDS) for n in notices])
    return Submitted(response_id=response_id, follow_up_ids=[fid for fid, _ in follow_ups])
