"""Personal data of customers: access (export), erasure, and purging by a retention period.

Erasure keeps the anonymous scores (answers' scores and choices, tallies) and removes what
identifies or describes the person: email, name, locale, time zone, comment texts, event,
invitation and response attributes, follow-up notes, the outbox messages that quoted them and
the opt-in links emailed to them.
The customer's external id is replaced by `pseudonym(external_id, secret_key)`:
`"erased:" + HMAC-SHA256(secret_key, external_id)`. It cannot be turned back into the id (not even
by trying every id, without the key), yet a new event with the original id maps to it again, so
ingestion can tell the person asked to be forgotten and never invites them again
(`is_erased`, `erased_among`). The customer row stays, with `erased_at` and `opted_out_at` set,
so the existing opt-out rules hold too.

A retention purge removes the same personal data once it is older than N days, but does not
block the person: a customer with no activity in N days gets a random `"purged:"` id, and a
later event with their original id creates a fresh, contactable customer.

Events live in `listening`'s tables; this package never imports `listening`, so the caller passes
an `EventRecords` that reads and clears them inside the same transaction.
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from surveys.audit import forget_customer
from surveys.clock import Clock, system_clock
from surveys.errors import NotFound
from surveys.message_erasure import erase_messages
from surveys.opt_in import forget_links
from surveys.tables import (
    Answer,
    Customer,
    FollowUp,
    Invitation,
    Message,
    Response,
    ResponseSegment,
)
from surveys.transactions import write_transaction

ERASED_PREFIX = "erased:"
PURGED_PREFIX = "purged:"
EXTERNAL_ID_MAX = 200
CHUNK = 500  # ids per IN (...): far below both engines' parameter limits


class EventRecords(Protocol):
    """Access to the touchpoint events stored for a customer (implemented by `listening`)."""

    async def export(self, external_id: str) -> list[dict[str, Any]]:
        """The customer's events, attributes included."""
        ...

    async def erase(self, external_id: str, replacement: str) -> int:
        """Empty the events' attributes and replace their customer id; return the count."""
        ...

    async def purge(self, before: datetime) -> int:
        """Empty the attributes of events received before `before`; return the count."""
        ...

    async def last_seen(self, external_ids: list[str]) -> dict[str, datetime]:
        """The newest event received per customer id."""
        ...


def pseudonym(external_id: str, secret_key: str) -> str:
    """The id an erased customer's row carries: a keyed hash of the original id."""
    digest = hmac.digest(secret_key.encode(), external_id.encode(), "sha256").hex()
    return ERASED_PREFIX + digest


async def erased_among(external_ids: Iterable[str], secret_key: str) -> set[str]:
    """Which of these external ids belong to customers who had their data erased."""
    by_pseudonym = {pseudonym(e, secret_key): e for e in set(external_ids)}
    if not by_pseudonym:
        return set()
    found = await Customer.select(Customer.external_id).where(
        Customer.external_id.is_in(list(by_pseudonym))
    )
    return {by_pseudonym[r["external_id"]] for r in found}


async def is_erased(external_id: str, secret_key: str) -> bool:
    """Whether the customer with this external id asked to be forgotten: never invite them."""
    return bool(await erased_among([external_id], secret_key))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _customer(external_id: str) -> dict[str, Any]:
    if not external_id or len(external_id) > EXTERNAL_ID_MAX:
        raise NotFound("No customer has this id.", field="customer_id")
    row = await Customer.select().where(Customer.external_id == external_id).first()
    if row is None:
        raise NotFound("No customer has this id.", field="customer_id")
    return row


# --- access -----------------------------------------------------------------------------------


async def customer_record(external_id: str, *, events: EventRecords) -> dict[str, Any]:
    """Everything stored about a customer, for access and portability requests; never a token."""
    customer = await _customer(external_id)
    invitations = await Invitation.select(
        Invitation.id,
        Invitation.status,
        Invitation.channel,
        Invitation.locale,
        Invitation.attributes,
        Invitation.trigger_key,
        Invitation.step.key.as_alias("step"),
        Invitation.survey.version.as_alias("survey_version"),
        Invitation.created_at,
        Invitation.send_at,
        Invitation.sent_at,
        Invitation.opened_at,
        Invitation.answered_at,
        Invitation.expires_at,
        Invitation.reminded_at,
    ).where(Invitation.customer == customer["id"])
    for invitation in invitations:
        invitation["attributes"] = _json(invitation["attributes"])
    responses = await _responses(customer["id"])
    follow_ups = await FollowUp.select(
        FollowUp.id,
        FollowUp.response,
        FollowUp.step.key.as_alias("step"),
        FollowUp.question.key.as_alias("question"),
        FollowUp.score,
        FollowUp.status,
        FollowUp.note,
        FollowUp.created_at,
        FollowUp.updated_at,
        FollowUp.closed_at,
    ).where(FollowUp.response.is_in([r["id"] for r in responses] or [0]))
    return {
        "customer": {k: v for k, v in customer.items() if k != "id"},
        "events": await events.export(external_id),
        "invitations": invitations,
        "responses": responses,
        "follow_ups": follow_ups,
    }


async def _responses(customer_id: int) -> list[dict[str, Any]]:
    responses = await Response.select(
        Response.id,
        Response.source,
        Response.step.key.as_alias("step"),
        Response.survey.version.as_alias("survey_version"),
        Response.invitation,
        Response.locale,
        Response.attributes,
        Response.submitted_at,
    ).where(Response.customer == customer_id)
    ids = [r["id"] for r in responses] or [0]
    answers = await Answer.select(
        Answer.response,
        Answer.question.key.as_alias("question"),
        Answer.question.kind.as_alias("kind"),
        Answer.score,
        Answer.choice,
        Answer.text,
    ).where(Answer.response.is_in(ids))
    segments = await ResponseSegment.select(
        ResponseSegment.response, ResponseSegment.name, ResponseSegment.value
    ).where(ResponseSegment.response.is_in(ids))
    for response in responses:
        response["attributes"] = _json(response["attributes"])
        response["answers"] = [
            {k: v for k, v in a.items() if k != "response"}
            for a in answers
            if a["response"] == response["id"]
        ]
        response["segments"] = {
            s["name"]: s["value"] for s in segments if s["response"] == response["id"]
        }
    return responses


# --- erasure ----------------------------------------------------------------------------------


async def erase_customer(
    external_id: str, *, secret_key: str, events: EventRecords, clock: Clock = system_clock
) -> dict[str, int]:
    """Erase a customer's personal data, keep their anonymous scores; return what was changed."""
    now = clock()
    async with write_transaction():
        customer = await _customer(external_id)
        counts = await _erase_rows(customer["id"], now)
        counts["messages"] += await forget_links(customer["email"])
        counts["events"] = await events.erase(external_id, pseudonym(external_id, secret_key))
        counts["audit_entries"] = await forget_customer(external_id, customer["email"], secret_key)
        await Customer.update(
            {
                Customer.external_id: pseudonym(external_id, secret_key),
                Customer.email: None,
                Customer.name: None,
                Customer.locale: None,
                Customer.time_zone: None,
                Customer.erased_at: now,
                Customer.opted_out_at: customer["opted_out_at"] or now,
            }
        ).where(Customer.id == customer["id"])
    return counts


async def _erase_rows(customer_id: int, now: datetime) -> dict[str, int]:
    """Clear the personal parts of a customer's invitations, responses and follow-ups."""
    invitations = await Invitation.select(Invitation.id).where(Invitation.customer == customer_id)
    if invitations:
        await Invitation.update({Invitation.attributes: "{}", Invitation.locale: None}).where(
            Invitation.customer == customer_id
        )
    responses = [
        r["id"] for r in await Response.select(Response.id).where(Response.customer == customer_id)
    ]
    comments = await _clear_responses(responses)
    messages = await _clear_follow_up_messages(responses)
    return {
        "invitations": len(invitations),
        "responses": len(responses),
        "comments": comments,
        "messages": messages,
    }


async def _clear_responses(response_ids: list[int]) -> int:
    """Empty comments, attributes and follow-up notes of these responses; return the comments."""
    if not response_ids:
        return 0
    texts = await Answer.count().where(
        Answer.response.is_in(response_ids) & Answer.text.is_not_null()
    )
    await Answer.update({Answer.text: None}).where(
        Answer.response.is_in(response_ids) & Answer.text.is_not_null()
    )
    await Response.update({Response.attributes: "{}", Response.locale: None}).where(
        Response.id.is_in(response_ids)
    )
    await FollowUp.update({FollowUp.note: None}).where(FollowUp.response.is_in(response_ids))
    return texts


async def _clear_follow_up_messages(response_ids: list[int]) -> int:
    """Empty the follow-up emails and webhooks that quoted these responses."""
    if not response_ids:
        return 0
    follow_ups = [
        f["id"]
        for f in await FollowUp.select(FollowUp.id).where(FollowUp.response.is_in(response_ids))
    ]
    wanted = {str(r) for r in response_ids}
    anchors = re.compile(r"#follow-up-(\d+)\b")
    ids = []
    for message in await Message.select(
        Message.id, Message.body_text, Message.payload, Message.status
    ).where(Message.kind == "follow_up"):
        payload = _json(message["payload"]) or {}
        linked = str(payload.get("response_id")) in wanted or any(
            int(n) in follow_ups for n in anchors.findall(message["body_text"] or "")
        )
        if linked:
            ids.append(message["id"])
    # The leads' address stays: it is theirs, not the customer's.
    await erase_messages(ids)
    return len(ids)


# --- retention --------------------------------------------------------------------------------


async def purge_personal_data(
    *, older_than_days: int, events: EventRecords, clock: Clock = system_clock
) -> dict[str, int]:
    """Remove personal data older than N days; customers quiet that long lose their identity."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    now = clock()
    cutoff = now - timedelta(days=older_than_days)
    async with write_transaction():
        counts = {"events": await events.purge(cutoff)}
        counts["invitations"] = await Invitation.count().where(Invitation.created_at < cutoff)
        await Invitation.update({Invitation.attributes: "{}"}).where(Invitation.created_at < cutoff)
        old_responses = [
            r["id"]
            for r in await Response.select(Response.id).where(Response.submitted_at < cutoff)
        ]
        counts["comments"] = 0
        for start in range(0, len(old_responses), CHUNK):
            chunk = old_responses[start : start + CHUNK]
            counts["comments"] += await _clear_responses(chunk)
        old_messages = Message.status.is_in(["sent", "failed"]) & (Message.created_at < cutoff)
        counts["messages"] = await Message.count().where(old_messages)
        await Message.delete().where(old_messages)
        counts["customers"] = await _purge_quiet_customers(cutoff, now, events)
    return counts


async def _purge_quiet_customers(cutoff: datetime, now: datetime, events: EventRecords) -> int:
    """Customers with no activity since the cutoff lose their contact data and their id."""
    candidates = await Customer.select(Customer.id, Customer.external_id).where(
        Customer.erased_at.is_null()
        & (Customer.created_at < cutoff)
        & (Customer.last_invited_at.is_null() | (Customer.last_invited_at < cutoff))
    )
    purged = 0
    for start in range(0, len(candidates), CHUNK):
        chunk = candidates[start : start + CHUNK]
        seen = await events.last_seen([c["external_id"] for c in chunk])
        recent = {
            r["customer"]
            for r in await Response.select(Response.customer).where(
                Response.customer.is_in([c["id"] for c in chunk])
                & (Response.submitted_at >= cutoff)
            )
        }
        for customer in chunk:
            last_event = seen.get(customer["external_id"])
            if customer["id"] in recent or (last_event is not None and last_event >= cutoff):
                continue
            replacement = PURGED_PREFIX + uuid.uuid4().hex
            await events.erase(customer["external_id"], replacement)
            await Customer.update(
                {
                    Customer.external_id: replacement,
                    Customer.email: None,
                    Customer.name: None,
                    Customer.locale: None,
                    Customer.time_zone: None,
                    Customer.erased_at: now,
                }
            ).where(Customer.id == customer["id"])
            purged += 1
    return purged
