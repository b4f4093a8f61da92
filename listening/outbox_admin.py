"""The outbox as the admin console sees it: invitations filtered, one invitation's story, and an
admin's cancel (a scheduled invitation) or retry (a failed one)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from listening.tables import Event
from surveys.audit import check_period
from surveys.clock import Clock, system_clock
from surveys.errors import Conflict, NotFound
from surveys.tables import Answer, Invitation, Response

STATUSES = ("scheduled", "sent", "opened", "answered", "expired", "failed", "cancelled")
CHANNELS = ("email", "link", "webhook")
CANCELLED = "cancelled"


@dataclass(frozen=True)
class InvitationRow:
    """One invitation in the outbox list."""

    uid: str
    trigger: str | None
    step: str
    customer: str
    channel: str
    status: str
    created_at: datetime
    send_at: datetime
    expires_at: datetime
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class Moment:
    """One thing that happened to an invitation, in order."""

    at: datetime
    what: str
    detail: str = ""


@dataclass(frozen=True)
class Story:
    """An invitation from its event to its answer."""

    invitation: InvitationRow
    customer_id: int
    event: dict[str, Any] | None
    decision: dict[str, Any] | None
    moments: list[Moment]
    answers: list[dict[str, Any]] = field(default_factory=list)


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


_COLUMNS = (
    Invitation.uid,
    Invitation.trigger_key,
    Invitation.step.key.as_alias("step"),
    Invitation.customer.external_id.as_alias("customer"),
    Invitation.channel,
    Invitation.status,
    Invitation.created_at,
    Invitation.send_at,
    Invitation.expires_at,
    Invitation.attempts,
    Invitation.last_error,
)


def _row(r: dict[str, Any]) -> InvitationRow:
    return InvitationRow(
        uid=r["uid"],
        trigger=r["trigger_key"],
        step=r["step"],
        customer=r["customer"],
        channel=r["channel"],
        status=r["status"],
        created_at=r["created_at"],
        send_at=r["send_at"],
        expires_at=r["expires_at"],
        attempts=r["attempts"],
        last_error=r["last_error"],
    )


async def find_invitations(
    *,
    status: str | None = None,
    step: str | None = None,
    channel: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[InvitationRow]:
    """Invitations newest first, by status, step, channel and creation period [since, until)."""
    since = check_period(since, "since")
    until = check_period(until, "until")
    query = Invitation.select(*_COLUMNS)
    if status:
        query = query.where(Invitation.status == status)
    if step:
        query = query.where(Invitation.step.key == step)
    if channel:
        query = query.where(Invitation.channel == channel)
    if since is not None:
        query = query.where(Invitation.created_at >= since)
    if until is not None:
        query = query.where(Invitation.created_at < until)
    rows = await query.order_by(Invitation.id, ascending=False).limit(max(1, min(limit, 1000)))
    return [_row(r) for r in rows]


async def _invitation(uid: str) -> dict[str, Any]:
    row = (
        await Invitation.select(
            *_COLUMNS,
            Invitation.id,
            Invitation.customer.id.as_alias("customer_id"),
            Invitation.event_id,
            Invitation.sent_at,
            Invitation.opened_at,
            Invitation.answered_at,
            Invitation.remind_at,
            Invitation.reminded_at,
        )
        .where(Invitation.uid == uid)
        .first()
    )
    if row is None:
        raise NotFound(f"no invitation {uid}", field="uid")
    return row


async def story(uid: str) -> Story:
    """One invitation's whole story: event, decision, sends, opens and the answer."""
    row = await _invitation(uid)
    event = None
    decision = None
    if row["event_id"] is not None:
        stored = await Event.select().where(Event.id == row["event_id"]).first()
        if stored is not None:
            event = {
                "id": stored["source_id"],
                "type": stored["type"],
                "occurred_at": stored["occurred_at"],
                "received_at": stored["received_at"],
                "attributes": _loads(stored["attributes"]),
            }
            outcomes = _loads(stored["outcome"]) or []
            decision = next((o for o in outcomes if o.get("uid") == uid), None)
    schedule = f"to send at {row['send_at']:%Y-%m-%d %H:%M}"
    moments = [Moment(row["created_at"], "scheduled", schedule)]
    if row["sent_at"]:
        moments.append(Moment(row["sent_at"], "sent", f"by {row['channel']}"))
    if row["reminded_at"]:
        moments.append(Moment(row["reminded_at"], "reminded"))
    if row["opened_at"]:
        moments.append(Moment(row["opened_at"], "opened"))
    if row["answered_at"]:
        moments.append(Moment(row["answered_at"], "answered"))
    answers: list[dict[str, Any]] = []
    response = await Response.select(Response.id).where(Response.invitation == row["id"]).first()
    if response is not None:
        answers = await (
            Answer.select(
                Answer.question.key.as_alias("question"), Answer.score, Answer.choice, Answer.text
            )
            .where(Answer.response == response["id"])
            .order_by(Answer.question.position)
        )
    moments.sort(key=lambda m: m.at)
    return Story(
        invitation=_row(row),
        customer_id=row["customer_id"],
        event=event,
        decision=decision,
        moments=moments,
        answers=answers,
    )


async def cancel_scheduled(uid: str, *, clock: Clock = system_clock) -> InvitationRow:
    """Cancel a scheduled invitation: never sent, and its link answers as expired."""
    before = await _invitation(uid)
    now = clock()
    # Conditional on the status: a worker that claimed it meanwhile finds it no longer scheduled.
    changed = (
        await Invitation.update(
            {
                Invitation.status: CANCELLED,
                Invitation.expires_at: now,
                Invitation.remind_at: None,
                Invitation.claimed_until: None,
                Invitation.last_error: "cancelled by an admin",
            }
        )
        .where((Invitation.uid == uid) & (Invitation.status == "scheduled"))
        .returning(Invitation.id)
    )
    if not changed:
        raise Conflict(
            f"only a scheduled invitation can be cancelled; this one is {before['status']}",
            field="uid",
        )
    return _row(await _invitation(uid))


async def retry_failed(uid: str, *, clock: Clock = system_clock) -> InvitationRow:
    """Schedule a failed invitation again, now, with a fresh count of tries."""
    before = await _invitation(uid)
    now = clock()
    if before["status"] == "failed" and before["expires_at"] <= now:
        raise Conflict("this invitation has expired; it cannot be sent again", field="uid")
    changed = (
        await Invitation.update(
            {
                Invitation.status: "scheduled",
                Invitation.attempts: 0,
                Invitation.next_attempt_at: now,
                Invitation.claimed_until: None,
                Invitation.last_error: None,
            }
        )
        .where(
            (Invitation.uid == uid)
            & (Invitation.status == "failed")
            & (Invitation.expires_at > now)
        )
        .returning(Invitation.id)
    )
    if not changed:
        raise Conflict(
            f"only a failed invitation can be retried; this one is {before['status']}",
            field="uid",
        )
    return _row(await _invitation(uid))
