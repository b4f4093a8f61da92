"""Closing the loop: a low score opens a follow-up for the step's owning department.

A follow-up moves open → in_progress → closed; closing needs a note and records who closed it.
It is opened inside the transaction that stores the response, together with the outbox rows
(`Message`) that tell the department: an email to its follow-up address when one is set, and
a webhook when one is configured. The delivery worker signs and sends them.
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from surveys import audit
from surveys.answers import TEXT_MAX, GivenAnswer
from surveys.clock import Clock, system_clock
from surveys.errors import Conflict, Invalid, NotFound
from surveys.scales import is_alert
from surveys.tables import Answer, FollowUp

STATUSES = ("open", "in_progress", "closed")


@dataclass(frozen=True)
class Viewer:
    """Who looks at follow-ups: admins and executives see all, employees their department's."""

    roles: tuple[str, ...]
    department_id: int | None
    user_id: int | None

    @property
    def sees_all(self) -> bool:
        """Whether this viewer sees every department's follow-ups."""
        return "admin" in self.roles or "executive" in self.roles


@dataclass(frozen=True)
class FollowUpCase:
    """A follow-up as staff see it: the low answer, where it came from, and what was done."""

    id: int
    status: str
    score: int
    note: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    response: int
    step_key: str
    step_name: str
    department_key: str
    department_name: str
    question_key: str
    question_kind: str
    source: str
    customer_ref: str | None
    closed_by_name: str | None
    comments: list[str]  # the response's text answers
    assignee_id: int | None = None
    assignee_name: str | None = None  # filled in by the follow-ups board only


def viewer_of(principal: Any) -> Viewer:
    """A Viewer from the request's principal (an account or an admin key)."""
    account = getattr(principal, "account", None)
    return Viewer(
        roles=tuple(getattr(principal, "roles", ()) or ()),
        department_id=getattr(principal, "department_id", None),
        user_id=account.id if account is not None else None,
    )


def alerting(given: Sequence[GivenAnswer]) -> list[GivenAnswer]:
    """The rating answers at or past their question's alert threshold."""
    return [
        a
        for a in given
        if a.score is not None
        and is_alert(a.score, a.question.alert_threshold, a.question.higher_is_better)
    ]


def _follow_up_url(base_url: str | None, follow_up_id: int) -> str:
    return f"{(base_url or '').rstrip('/')}/follow-ups#follow-up-{follow_up_id}"


def plan_notices(
    *,
    step: dict[str, Any],
    follow_ups: Sequence[tuple[int, GivenAnswer]],
    given: Sequence[GivenAnswer],
    response_id: int,
    source: str,
    customer_ref: str | None,
    now: datetime,
    base_url: str | None,
    webhook_url: str | None,
) -> list[dict[str, Any]]:
    """The outbox rows (Message fields) announcing new follow-ups; no I/O, for any writer."""
    comments = [a.text for a in given if a.text]
    items = [
        {
            "id": fid,
            "question": a.question.key,
            "kind": a.question.kind,
            "score": a.score,
            "url": _follow_up_url(base_url, fid),
        }
        for fid, a in follow_ups
    ]
    notices: list[dict[str, Any]] = []
    common = {"kind": "follow_up", "status": "queued", "next_attempt_at": now, "created_at": now}
    if step["follow_up_email"]:
        notices.append(
            {
                **common,
                "uid": str(uuid.uuid4()),
                "channel": "email",
                "recipient": step["follow_up_email"],
                "subject": f"Follow up: a low score for {step['name']}"[:300],
                "body_text": _email_text(step, items, comments, customer_ref),
                "body_html": _email_html(step, items, comments, customer_ref),
                "payload": "{}",
            }
        )
    if webhook_url:
        payload = {
            "event": "follow_up.opened",
            "response_id": response_id,
            "source": source,
            "customer": customer_ref,
            "step": {"key": step["key"], "name": step["name"]},
            "department": step["department_name"],
            "follow_ups": items,
            "comments": comments,
            "created_at": now.isoformat(),
        }
        notices.append(
            {
                **common,
                "uid": str(uuid.uuid4()),
                "channel": "webhook",
                "recipient": webhook_url,
                "subject": "follow_up.opened",
                "body_text": "",
                "body_html": "",
                "payload": json.dumps(payload, ensure_ascii=False),
            }
        )
    return notices


def _email_text(step: dict, items: list[dict], comments: list[str], customer: str | None) -> str:
    lines = [f"A customer gave a low score for the step {step['name']}.", ""]
    lines += [f"- {i['question']} ({i['kind']}): {i['score']}" for i in items]
    if customer:
        lines += ["", f"Customer reference: {customer}"]
    for comment in comments:
        lines += ["", "They wrote:", comment]
    lines += ["", "Take it on, note what you did and close it here:", items[0]["url"]]
    return "\n".join(lines) + "\n"


def _email_html(step: dict, items: list[dict], comments: list[str], customer: str | None) -> str:
    esc = html.escape
    name = esc(step["name"])
    parts = [f"<p>A customer gave a low score for the step <strong>{name}</strong>.</p>"]
    parts.append(
        "<ul>"
        + "".join(f"<li>{esc(i['question'])} ({esc(i['kind'])}): {i['score']}</li>" for i in items)
        + "</ul>"
    )
    if customer:
        parts.append(f"<p>Customer reference: {esc(customer)}</p>")
    parts += [f"<blockquote>{esc(c)}</blockquote>" for c in comments]
    parts.append(f'<p><a href="{esc(items[0]["url"])}">Take it on and close it</a></p>')
    return "\n".join(parts)


# --- listing and working on follow-ups -------------------------------------------------------


def _visible(viewer: Viewer) -> Any:
    if viewer.sees_all:
        return None
    if "employee" in viewer.roles and viewer.department_id is not None:
        return FollowUp.department == viewer.department_id
    return FollowUp.id < 0  # nothing


_COLUMNS = (
    FollowUp.id,
    FollowUp.status,
    FollowUp.score,
    FollowUp.note,
    FollowUp.created_at,
    FollowUp.updated_at,
    FollowUp.closed_at,
    FollowUp.response,
    FollowUp.step.key.as_alias("step_key"),
    FollowUp.step.name.as_alias("step_name"),
    FollowUp.department.key.as_alias("department_key"),
    FollowUp.department.name.as_alias("department_name"),
    FollowUp.question.key.as_alias("question_key"),
    FollowUp.question.kind.as_alias("question_kind"),
    FollowUp.response.source.as_alias("source"),
    FollowUp.response.customer.external_id.as_alias("customer_ref"),
    FollowUp.closed_by.name.as_alias("closed_by_name"),
    FollowUp.assignee.as_alias("assignee_id"),
)


async def list_follow_ups(
    viewer: Viewer, *, status: str | None = None, limit: int = 200
) -> list[FollowUpCase]:
    """Follow-ups this viewer may see, newest first, each with the response's comments."""
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", field="status")
    query = FollowUp.select(*_COLUMNS).order_by(FollowUp.id, ascending=False).limit(limit)
    where = _visible(viewer)
    if where is not None:
        query = query.where(where)
    if status is not None:
        query = query.where(FollowUp.status == status)
    rows = await query
    comments = await _comments([r["response"] for r in rows])
    return [FollowUpCase(**row, comments=comments.get(row["response"], [])) for row in rows]


async def _comments(response_ids: list[int]) -> dict[int, list[str]]:
    if not response_ids:
        return {}
    rows = await Answer.select(Answer.response, Answer.text).where(
        Answer.response.is_in(sorted(set(response_ids))) & Answer.text.is_not_null()
    )
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row["response"], []).append(row["text"])
    return found


async def get_follow_up(viewer: Viewer, follow_up_id: int) -> FollowUpCase:
    """One follow-up the viewer may see; 404 otherwise (other departments' are not revealed)."""
    query = FollowUp.select(*_COLUMNS).where(FollowUp.id == follow_up_id)
    where = _visible(viewer)
    if where is not None:
        query = query.where(where)
    row = await query.first()
    if row is None:
        raise NotFound("no such follow-up", field="id")
    comments = (await _comments([row["response"]])).get(row["response"], [])
    return FollowUpCase(**row, comments=comments)


async def update_follow_up(
    viewer: Viewer,
    follow_up_id: int,
    *,
    status: str | None = None,
    note: str | None = None,
    clock: Clock = system_clock,
) -> FollowUpCase:
    """Move a follow-up along or note what was done; closing needs a note."""
    current = await get_follow_up(viewer, follow_up_id)
    target = status or current.status
    if target not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", field="status")
    # Closed is final: any status may follow open or in_progress, nothing follows closed.
    if current.status == "closed":
        raise Conflict("this follow-up is closed", field="status")
    if note is not None:
        if "\x00" in note:
            raise Invalid("the note contains a character that cannot be stored", field="note")
        if len(note) > TEXT_MAX:
            raise Invalid(f"the note may have at most {TEXT_MAX:,} characters", field="note")
    new_note = note if note is not None and note.strip() else current.note
    if target == "closed" and not (new_note and new_note.strip()):
        raise Invalid("say what was done before closing", field="note")
    now = clock()
    values: dict[Any, Any] = {FollowUp.status: target, FollowUp.note: new_note}
    values[FollowUp.updated_at] = now
    if target == "closed":
        values[FollowUp.closed_at] = now
        values[FollowUp.closed_by] = viewer.user_id
    async with FollowUp._meta.db.transaction():
        changed = (
            await FollowUp.update(values)
            .where((FollowUp.id == follow_up_id) & (FollowUp.status != "closed"))
            .returning(FollowUp.id)
        )
    if not changed:
        raise Conflict("this follow-up is closed", field="status")
    return await get_follow_up(viewer, follow_up_id)


async def record_change(
    actor: str,
    before: FollowUpCase,
    after: FollowUpCase,
    secret_key: str,
    *,
    clock: Clock = system_clock,
) -> None:
    """Record a follow-up's change in the audit log: status, note and assignee before and after.

    The note may speak of the customer, so the entry is tied to them by the keyed hash of their
    id: their erasure blanks it. The customer's answers stay out of the log.
    """
    ref = before.customer_ref

    def state(case: FollowUpCase) -> dict[str, Any]:
        return {"status": case.status, "note": case.note, "assignee": case.assignee_id}

    await audit.record(
        actor,
        "follow_up",
        "update",
        str(before.id),
        before=state(before),
        after=state(after),
        person=audit.person_ref(ref, secret_key) if ref else None,
        clock=clock,
    )


async def follow_ups_of_response(response_id: int) -> list[dict[str, Any]]:
    """The follow-ups a response opened (for tests and the response view)."""
    return await FollowUp.select().where(FollowUp.response == response_id)
