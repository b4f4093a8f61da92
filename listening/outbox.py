"""The outbox: due invitations, reminders and queued messages, claimed by delivery workers.

A worker claims rows by setting `claimed_until` (a lease) in one conditional UPDATE; on PostgreSQL
the candidate rows are picked with `FOR UPDATE SKIP LOCKED`, so several workers share the outbox
without waiting on each other and no row is handed to two of them. A worker that dies leaves its
lease to run out; the rows are then claimed again and re-sent with the same Message-ID or delivery
id. Failures are retried with backoff; after 5 attempts an invitation or message is `failed`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from listening import schemas
from surveys.clock import Clock, system_clock
from surveys.errors import Invalid
from surveys.scales import is_rating
from surveys.tables import Invitation, Message, Question, Suppression
from surveys.tokens import invitation_token

MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=5)
FIRST_RETRY = timedelta(seconds=30)
OPEN_STATUSES = ("scheduled", "sent", "opened")


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` failures: 30 s, 2 min, 8 min, 32 min."""
    return FIRST_RETRY * 4 ** max(0, attempts - 1)


def _is_postgres() -> bool:
    return Invitation._meta.db.engine_type == "postgres"


def _in(values: tuple[str, ...]) -> str:
    return ", ".join("{}" for _ in values)


async def _claim(
    table: str,
    condition: str,
    args: list[Any],
    now: datetime,
    limit: int,
    lease: timedelta = LEASE,
) -> list[int]:
    # The outer condition repeats the lease test, so on SQLite (one writer at a time) and on
    # PostgreSQL (rows locked by the inner SELECT) a row goes to exactly one claimant.
    lock = " FOR UPDATE SKIP LOCKED" if _is_postgres() else ""
    sql = (
        f'UPDATE "{table}" SET claimed_until = {{}} WHERE id IN ('  # noqa: S608
        f'SELECT id FROM "{table}" WHERE {condition} '
        "AND (claimed_until IS NULL OR claimed_until < {}) "
        f"ORDER BY next_attempt_at, id LIMIT {int(limit)}{lock}) "
        "AND (claimed_until IS NULL OR claimed_until < {}) RETURNING id"
    )
    rows = await Invitation.raw(sql, now + lease, *args, now, now)
    return [r["id"] for r in rows]


# --- invitations -----------------------------------------------------------------------------


@dataclass
class DueInvitation:
    """An invitation (or its reminder) claimed for delivery, with what delivery needs."""

    id: int
    uid: str
    reminder: bool
    channel: str
    status: str
    trigger_key: str | None
    webhook_url: str | None
    customer_id: int
    external_id: str
    email: str | None
    name: str | None
    locale: str | None
    time_zone: str | None
    opted_out: bool
    survey_id: int
    step_key: str
    step_name: str
    attributes: dict[str, Any]
    send_at: datetime
    remind_at: datetime | None
    expires_at: datetime
    attempts: int


async def claim_invitations(
    now: datetime, *, channels: tuple[str, ...], limit: int = 50, lease: timedelta = LEASE
) -> list[DueInvitation]:
    """Claim invitations due for sending, then reminders due, on the given channels."""
    if not channels:
        return []
    invitations = await _claim(
        "invitation",
        f"status = 'scheduled' AND channel IN ({_in(channels)}) AND next_attempt_at <= {{}} "
        "AND expires_at > {}",
        [*channels, now, now],
        now,
        limit,
        lease,
    )
    reminders = await _claim(
        "invitation",
        f"status IN ('sent', 'opened') AND channel IN ({_in(channels)}) "
        "AND remind_at IS NOT NULL AND reminded_at IS NULL AND next_attempt_at <= {} "
        "AND expires_at > {}",
        [*channels, now, now],
        now,
        limit,
        lease,
    )
    return await _load(invitations, reminder=False) + await _load(reminders, reminder=True)


async def _load(ids: list[int], *, reminder: bool) -> list[DueInvitation]:
    if not ids:
        return []
    rows = (
        await Invitation.select(
            Invitation.id,
            Invitation.uid,
            Invitation.channel,
            Invitation.status,
            Invitation.trigger_key,
            Invitation.webhook_url,
            Invitation.customer.id.as_alias("customer_id"),
            Invitation.customer.external_id.as_alias("external_id"),
            Invitation.customer.email.as_alias("email"),
            Invitation.customer.name.as_alias("name"),
            Invitation.customer.locale.as_alias("customer_locale"),
            Invitation.customer.time_zone.as_alias("time_zone"),
            Invitation.customer.opted_out_at.as_alias("opted_out_at"),
            Invitation.locale,
            Invitation.survey.id.as_alias("survey_id"),
            Invitation.step.key.as_alias("step_key"),
            Invitation.step.name.as_alias("step_name"),
            Invitation.attributes,
            Invitation.send_at,
            Invitation.remind_at,
            Invitation.expires_at,
            Invitation.attempts,
        )
        .where(Invitation.id.is_in(ids))
        .order_by(Invitation.id)
    )
    return [
        DueInvitation(
            id=r["id"],
            uid=r["uid"],
            reminder=reminder,
            channel=r["channel"],
            status=r["status"],
            trigger_key=r["trigger_key"],
            webhook_url=r["webhook_url"],
            customer_id=r["customer_id"],
            external_id=r["external_id"],
            email=r["email"],
            name=r["name"],
            locale=r["locale"] or r["customer_locale"],
            time_zone=r["time_zone"],
            opted_out=r["opted_out_at"] is not None,
            survey_id=r["survey_id"],
            step_key=r["step_key"],
            step_name=r["step_name"],
            attributes=_json(r["attributes"]),
            send_at=r["send_at"],
            remind_at=r["remind_at"],
            expires_at=r["expires_at"],
            attempts=r["attempts"],
        )
        for r in rows
    ]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def first_rating_question(survey_id: int) -> dict[str, Any] | None:
    """The survey's first rating question (kind, wording, end labels), or None."""
    rows = (
        await Question.select(
            Question.kind, Question.customer, Question.low_label, Question.high_label
        )
        .where(Question.survey == survey_id)
        .order_by(Question.position)
        .order_by(Question.id)
    )
    for row in rows:
        if is_rating(row["kind"]):
            return {**row, "customer": _json(row["customer"])}
    return None


async def is_suppressed(email: str | None) -> bool:
    """Whether an address bounced or complained."""
    if not email:
        return False
    return await Suppression.exists().where(Suppression.email == email.strip().lower())


async def mark_sent(due: DueInvitation, now: datetime) -> None:
    """Record a delivery: the invitation is sent (or its reminder done)."""
    if due.reminder:
        await Invitation.update(
            {
                Invitation.reminded_at: now,
                Invitation.claimed_until: None,
                Invitation.last_error: None,
            }
        ).where(Invitation.id == due.id)
        return
    # The reminder keeps its distance from the actual send time, not the planned one.
    remind_at = now + (due.remind_at - due.send_at) if due.remind_at else None
    if remind_at is not None and remind_at >= due.expires_at:
        remind_at = None
    await Invitation.update(
        {
            Invitation.status: "sent",
            Invitation.sent_at: now,
            Invitation.attempts: Invitation.attempts + 1,
            Invitation.claimed_until: None,
            Invitation.last_error: None,
            Invitation.remind_at: remind_at,
            Invitation.next_attempt_at: remind_at or now,
        }
    ).where((Invitation.id == due.id) & (Invitation.status == "scheduled"))


async def mark_failure(due: DueInvitation, now: datetime, error: str) -> str:
    """Record a failed try; retried with backoff, `failed` after 5 tries. Returns the outcome."""
    attempts = due.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        # A reminder's invitation was delivered already: only the reminder is dropped.
        changes = {Invitation.remind_at: None} if due.reminder else {Invitation.status: "failed"}
        await Invitation.update(
            {
                **changes,
                Invitation.attempts: attempts,
                Invitation.claimed_until: None,
                Invitation.last_error: error[:2000],
            }
        ).where(Invitation.id == due.id)
        return "failed"
    await Invitation.update(
        {
            Invitation.attempts: attempts,
            Invitation.next_attempt_at: now + backoff(attempts),
            Invitation.claimed_until: None,
            Invitation.last_error: error[:2000],
        }
    ).where(Invitation.id == due.id)
    return "retry"


async def cancel(due: DueInvitation, reason: str) -> None:
    """Give up an invitation that must not be delivered (opted out, suppressed, no address)."""
    changes: dict[Any, Any] = {Invitation.claimed_until: None, Invitation.last_error: reason}
    if due.reminder:
        changes[Invitation.remind_at] = None
    else:
        changes[Invitation.status] = "failed"
    await Invitation.update(changes).where(Invitation.id == due.id)


async def defer(due: DueInvitation, until: datetime) -> None:
    """Release an invitation until a later moment (quiet hours); not a failed try."""
    await Invitation.update(
        {Invitation.next_attempt_at: until, Invitation.claimed_until: None}
    ).where(Invitation.id == due.id)


async def expire_invitations(now: datetime) -> int:
    """Mark unanswered invitations past their expiry `expired`; returns how many."""
    rows = (
        await Invitation.update({Invitation.status: "expired"})
        .where(Invitation.status.is_in(list(OPEN_STATUSES)) & (Invitation.expires_at <= now))
        .returning(Invitation.id)
    )
    return len(rows)


# --- queued messages (surveys.tables.Message) --------------------------------------------------


async def claim_messages(
    now: datetime, *, channels: tuple[str, ...], limit: int = 50, lease: timedelta = LEASE
) -> list[dict[str, Any]]:
    """Claim queued messages due for sending on the given channels."""
    if not channels:
        return []
    ids = await _claim(
        "message",
        f"status = 'queued' AND channel IN ({_in(channels)}) AND next_attempt_at <= {{}}",
        [*channels, now],
        now,
        limit,
        lease,
    )
    if not ids:
        return []
    rows = await Message.select().where(Message.id.is_in(ids)).order_by(Message.id)
    for row in rows:
        row["payload"] = _json(row["payload"])
    return rows


async def message_sent(message_id: int, now: datetime) -> None:
    """Record a delivered message."""
    await Message.update(
        {
            Message.status: "sent",
            Message.sent_at: now,
            Message.attempts: Message.attempts + 1,
            Message.claimed_until: None,
            Message.last_error: None,
        }
    ).where(Message.id == message_id)


async def message_failure(
    message: dict[str, Any], now: datetime, error: str, *, final: bool = False
) -> str:
    """Record a failed try of a message; `failed` after 5 tries (or at once when `final`)."""
    attempts = message["attempts"] + 1
    if final or attempts >= MAX_ATTEMPTS:
        await Message.update(
            {
                Message.status: "failed",
                Message.attempts: attempts,
                Message.claimed_until: None,
                Message.last_error: error[:2000],
            }
        ).where(Message.id == message["id"])
        return "failed"
    await Message.update(
        {
            Message.attempts: attempts,
            Message.next_attempt_at: now + backoff(attempts),
            Message.claimed_until: None,
            Message.last_error: error[:2000],
        }
    ).where(Message.id == message["id"])
    return "retry"


# --- suppressions and the admin list ---------------------------------------------------------


async def add_suppression(
    email: str, reason: str, *, clock: Clock = system_clock
) -> dict[str, Any]:
    """Never email this address again; reporting it twice changes nothing."""
    address = email.strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "\x00" in address or " " in address:
        raise Invalid("email is not an email address", field="email")
    if "\x00" in reason:
        raise Invalid("reason must not contain NUL characters", field="reason")
    existing = await Suppression.select().where(Suppression.email == address).first()
    if existing is None:
        await Suppression.insert(Suppression(email=address, reason=reason, created_at=clock()))
        existing = await Suppression.select().where(Suppression.email == address).first()
    return {
        "email": existing["email"],
        "reason": existing["reason"],
        "created_at": existing["created_at"].isoformat(),
    }


async def list_invitations(
    *,
    base_url: str,
    secret_key: str,
    status: str | None = None,
    channel: str | None = None,
    trigger: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[schemas.Invitation]:
    """Invitations, newest first, each with its survey link."""
    if not 1 <= limit <= 1000:
        raise Invalid("limit must be between 1 and 1000", field="limit")
    if offset < 0:
        raise Invalid("offset must not be negative", field="offset")
    query = Invitation.select(
        Invitation.uid,
        Invitation.trigger_key,
        Invitation.step.key.as_alias("step"),
        Invitation.customer.external_id.as_alias("customer"),
        Invitation.customer.email.as_alias("email"),
        Invitation.channel,
        Invitation.status,
        Invitation.created_at,
        Invitation.send_at,
        Invitation.expires_at,
        Invitation.sent_at,
        Invitation.answered_at,
        Invitation.attempts,
        Invitation.last_error,
    )
    if status:
        query = query.where(Invitation.status == status)
    if channel:
        query = query.where(Invitation.channel == channel)
    if trigger:
        query = query.where(Invitation.trigger_key == trigger)
    rows = await query.order_by(Invitation.id, ascending=False).limit(limit).offset(offset)
    base = base_url.rstrip("/")
    return [
        schemas.Invitation(
            uid=r["uid"],
            trigger=r["trigger_key"],
            step=r["step"],
            customer=r["customer"],
            email=r["email"],
            channel=r["channel"],
            status=r["status"],
            created_at=r["created_at"],
            send_at=r["send_at"],
            expires_at=r["expires_at"],
            sent_at=r["sent_at"],
            answered_at=r["answered_at"],
            attempts=r["attempts"],
            last_error=r["last_error"],
            survey_url=f"{base}/s/{invitation_token(secret_key, r['uid'])}",
        )
        for r in rows
    ]
