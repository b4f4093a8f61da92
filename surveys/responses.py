"""Customer responses: opening an invitation link and storing its answers exactly once.

An invitation is found by the hash of its token. Opening it only marks it `opened` (mail
scanners follow every link, so a GET never stores an answer). Submitting stores the response,
its answers, its segments, the tallies and any follow-ups in one transaction, guarded by a
conditional update of the invitation's status and the unique `Response.invitation` column, so
two submissions racing each other store one response.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from surveys.answers import AskedQuestion, GivenAnswer, questions_of, validate_answers
from surveys.clock import Clock, system_clock
from surveys.errors import Conflict, Gone, Invalid, NotFound
from surveys.follow_ups import open_follow_ups
from surveys.tables import Answer, Invitation, Response, ResponseSegment
from surveys.tallies import add_counts, response_source
from surveys.tokens import token_hash

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
    attributes: dict[str, Any]
    questions: list[AskedQuestion] = field(default_factory=list)

    @property
    def first_rating(self) -> AskedQuestion | None:
        """The first rating question: the one the invitation email offers as one-click links."""
        return next((q for q in self.questions if q.low is not None), None)


@dataclass(frozen=True)
class Submitted:
    """A stored response and the follow-ups it opened."""

    response_id: int
    follow_up_ids: list[int]


def writing_transaction() -> Any:
    """A transaction for read-then-write work; on SQLite it takes the write lock at once."""
    engine = Response._meta.db
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


_COLUMNS = (
    Invitation.id,
    Invitation.status,
    Invitation.survey,
    Invitation.step,
    Invitation.customer,
    Invitation.locale,
    Invitation.attributes,
    Invitation.expires_at,
    Invitation.opened_at,
    Invitation.step.key.as_alias("step_key"),
    Invitation.step.name.as_alias("step_name"),
    Invitation.customer.locale.as_alias("customer_locale"),
    Invitation.customer.external_id.as_alias("customer_ref"),
)


def _attributes(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw or "{}")
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


async def find_invitation(token: str, *, clock: Clock = system_clock) -> OpenInvitation:
    """The invitation of a token: 404 unknown, 409 answered, 410 expired."""
    if not token or len(token) > TOKEN_MAX:
        raise NotFound("This page does not exist.")
    row = (
        await Invitation.select(*_COLUMNS).where(Invitation.token_hash == token_hash(token)).first()
    )
    if row is None:
        raise NotFound("This page does not exist.")
    if row["status"] == "answered":
        raise Conflict("You have already answered this survey. Thank you!", field="token")
    if row["status"] == "expired" or clock() >= row["expires_at"]:
        raise Gone("This survey link has expired.", field="token")
    locales = (row["locale"], row["customer_locale"])
    questions = await questions_of(row["survey"], locales)
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
        attributes=_attributes(row["attributes"]),
        questions=questions,
    )


async def open_invitation(token: str, *, clock: Clock = system_clock) -> OpenInvitation:
    """Find the invitation and mark it opened; never stores an answer."""
    invitation = await find_invitation(token, clock=clock)
    if invitation.status in UNOPENED:
        now = clock()
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
    invitation = await find_invitation(token, clock=clock)
    given, errors = validate_answers(
        invitation.questions, raw_answers, ignore_unknown=ignore_unknown
    )
    if errors:
        first = next(iter(errors))
        raise Invalid(f"{first}: {errors[first]}", field=first, errors=errors)
    now = clock()
    async with writing_transaction():
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
            notify=notify or Notify(),
            invitation_id=invitation.id,
            customer_id=invitation.customer_id,
            customer_ref=invitation.customer_ref,
            locale=invitation.locale,
            attributes=invitation.attributes,
        )
