"""Lifting an opt-out: only the customer does it, through a link the privacy desk emails them.

The link is signed (`surveys.tokens.signed_link`, purpose "opt-in") and carries the customer's
row id, when it expires and the moment of the opt-out it lifts, so nothing about it is stored:
it stops working once the opt-out is lifted (or replaced by a later one), and when it expires.
Opening it changes nothing (mail scanners follow links); the page's button lifts the opt-out.
The email is queued as a `Message` (delivered by listening's worker) and, like the page, speaks
the customer's language (`customer_language.customer_wording`). Sending and lifting are both in
the audit log, the customer named only by `audit.person_ref`.

An address gets at most one link per cooldown (a double click, or someone pressing the button
again and again, must not flood a customer's inbox): the outbox's own rows say when the last
link to it was queued, so nothing else is stored for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from surveys.audit import person_ref, record
from surveys.clock import Clock, system_clock
from surveys.customer_language import customer_wording
from surveys.employee_mail import enqueue_email
from surveys.errors import Conflict, DomainError, Gone, Invalid, NotFound
from surveys.languages import N_, Wording
from surveys.local_time import organisation_time_zone
from surveys.mail_html import accent, document, organisation_header
from surveys.message_erasure import erase_messages
from surveys.optout import record_own_choice
from surveys.tables import Customer, Message, Suppression
from surveys.tokens import signed_link, signed_payload
from surveys.transactions import write_transaction

PURPOSE = "opt-in"
KIND = "opt_in_link"  # the Message kind
LINK_DAYS = 7
COOLDOWN = timedelta(minutes=10)  # between two links to one address
TOKEN_MAX = 120
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

SUBJECT = N_("Your link to receive surveys again")
NOT_RECEIVING = N_("You are not receiving our surveys at the moment, because you asked us to stop.")
CONFIRM_THERE = N_(
    "To receive them again, confirm it on this page (the link works for %(days)s days):"
)
IGNORE = N_("If you did not ask for this link, ignore this email: nothing changes.")
RECEIVE_AGAIN = N_("Receive surveys again")


class LinkExpired(Gone):
    """The link's time is over, or a newer opt-out replaced the one it lifts (410)."""


class LinkUsed(Gone):
    """The opt-out this link lifts has been lifted already (410)."""


class SentRecently(DomainError):
    """A link went to this address less than a cooldown ago; the next may go at `ready_at` (429)."""

    status_code = 429

    def __init__(
        self, sent_at: datetime, ready_at: datetime, now: datetime, zone: ZoneInfo
    ) -> None:
        sent_at, ready_at = sent_at.astimezone(zone), ready_at.astimezone(zone)
        # Times are shown to the minute, this one rounded up: a press at the time shown passes.
        into_minute = timedelta(seconds=ready_at.second, microseconds=ready_at.microsecond)
        shown = ready_at - into_minute + (timedelta(minutes=1) if into_minute else timedelta())
        # In the organisation's zone, as every time the console shows and takes.
        where = "UTC" if zone.key == "UTC" else f"{zone.key} time"
        super().__init__(
            f"A link was sent to this customer's address at {sent_at:%Y-%m-%d %H:%M} {where}; "
            f"a new one can be sent from {shown:%Y-%m-%d %H:%M} {where}.",
            field="customer",
        )
        self.ready_at = ready_at
        self.retry_after = max(1, math.ceil((ready_at - now).total_seconds()))


@dataclass(frozen=True)
class OptInLink:
    """A valid link: whose opt-out it lifts, and until when it works."""

    customer_id: int
    opted_out_at: datetime
    expires_at: datetime


def _micros(moment: datetime) -> int:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


def link_token(
    secret_key: str, customer_id: int, opted_out_at: datetime, expires_at: datetime
) -> str:
    """The signed token of the link lifting this opt-out, valid until `expires_at`."""
    payload = f"{customer_id}.{_micros(expires_at) // 1_000_000}.{_micros(opted_out_at)}"
    return signed_link(secret_key, PURPOSE, payload)


def opt_in_url(base_url: str, token: str) -> str:
    """The customer's page for an opt-in token."""
    return f"{base_url.rstrip('/')}/opt-in/{token}"


def _read_token(token: str, secret_key: str) -> tuple[int, int, int]:
    """The customer id, expiry (seconds) and opt-out moment (µs) a genuine token carries."""
    payload = signed_payload(secret_key, PURPOSE, token) if len(token) <= TOKEN_MAX else None
    parts = payload.split(".") if payload else []
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise NotFound("This link is not valid.", field="token")
    customer_id, expires, opted_out = (int(p) for p in parts)
    return customer_id, expires, opted_out


def link_customer(token: str, secret_key: str) -> int | None:
    """The customer a genuine link was made for, expired or not (to speak their language)."""
    try:
        return _read_token(token, secret_key)[0]
    except NotFound:
        return None


async def check_link(token: str, *, secret_key: str, clock: Clock = system_clock) -> OptInLink:
    """The opt-out a link may lift: 404 for a forged one, 410 when expired, replaced or used."""
    customer_id, expires, opted_out = _read_token(token, secret_key)
    row = (
        await Customer.select(Customer.opted_out_at, Customer.erased_at)
        .where(Customer.id == customer_id)
        .first()
    )
    if row is None or row["erased_at"] is not None:
        raise NotFound("This link is not valid.", field="token")
    expires_at = _EPOCH + timedelta(seconds=expires)
    if row["opted_out_at"] is None:
        raise LinkUsed("The opt-out was lifted already.", field="token")
    if expires_at <= clock() or _micros(row["opted_out_at"]) != opted_out:
        raise LinkExpired("This link has expired.", field="token")
    return OptInLink(customer_id, row["opted_out_at"], expires_at)


async def lift_opt_out(token: str, *, secret_key: str, clock: Clock = system_clock) -> OptInLink:
    """Lift the opt-out behind a valid link (once): the customer may be invited again.

    Recorded in the audit log with the actor "customer", named by the hash of their id."""
    async with write_transaction():
        link = await check_link(token, secret_key=secret_key, clock=clock)
        lifted = (
            await Customer.update({Customer.opted_out_at: None})
            .where((Customer.id == link.customer_id) & Customer.opted_out_at.is_not_null())
            .returning(Customer.external_id)
        )
        if not lifted:  # a second press that waited for the first one's lock
            raise LinkUsed("The opt-out was lifted already.", field="token")
        await record_own_choice(
            lifted[0]["external_id"],
            "remove",
            link.opted_out_at,
            None,
            secret_key=secret_key,
            clock=clock,
        )
    return link


async def _last_link_since(address: str, since: datetime) -> datetime | None:
    """When the latest opt-in link to `address` (any case) was queued after `since`, if one was."""
    # Few links are queued in one cooldown, so the address is compared here, case folded as
    # suppressions are, rather than in SQL on a column stored as the customer gave it.
    recent = await Message.select(Message.recipient, Message.created_at).where(
        (Message.kind == KIND) & (Message.created_at > since)
    )
    times = [r["created_at"] for r in recent if r["recipient"].strip().lower() == address]
    return max(times, default=None)


async def send_opt_in_link(
    external_id: str,
    *,
    actor: str,
    secret_key: str,
    base_url: str,
    clock: Clock = system_clock,
    cooldown: timedelta = COOLDOWN,
) -> datetime:
    """Queue the email with a link for an opted-out customer to lift it; returns its expiry.

    Errors name the field `customer`: unknown (404), not opted out, address suppressed (409),
    no address (422), a link sent to the address less than `cooldown` ago (429, `SentRecently`).
    The sending is audited, the customer named by the hash of their id."""
    now = clock()
    async with write_transaction():
        row = await Customer.select().where(Customer.external_id == external_id).first()
        if row is None or row["erased_at"] is not None:
            raise NotFound("No customer has this id.", field="customer")
        if row["opted_out_at"] is None:
            raise Conflict("This customer has not opted out.", field="customer")
        if not row["email"]:
            raise Invalid("This customer has no email address to send a link to.", field="customer")
        address = row["email"].strip().lower()
        if await Suppression.exists().where(Suppression.email == address):
            raise Conflict(
                "This customer's address is suppressed: no email reaches it.", field="customer"
            )
        if Customer._meta.db.engine_type == "postgres":
            # Two presses at once would both find no recent link; the address's lock makes the
            # second wait for the first to commit, then find its email. (On SQLite the write
            # transaction holds the database's write lock already.)
            await Customer.raw("SELECT pg_advisory_xact_lock(hashtext({}))", f"opt-in:{address}")
        sent_at = await _last_link_since(address, now - cooldown)
        if sent_at is not None:
            zone = await organisation_time_zone()
            raise SentRecently(sent_at, sent_at + cooldown, now, zone)
        expires_at = now + timedelta(days=LINK_DAYS)
        token = link_token(secret_key, row["id"], row["opted_out_at"], expires_at)
        wording = await customer_wording(row["id"])
        text, html = _email(wording, row["name"], opt_in_url(base_url, token), base_url)
        await enqueue_email(
            kind=KIND,
            recipient=row["email"],
            subject=wording.text(SUBJECT),
            body_text=text,
            body_html=html,
            clock=clock,
        )
        ref = person_ref(external_id, secret_key)
        await record(
            actor,
            "opt_out",
            "send_link",
            ref,
            after={"link_expires_at": expires_at, "language": wording.lang},
            person=ref,
            clock=clock,
        )
    return expires_at


def _email(wording: Wording, name: str | None, link: str, base_url: str) -> tuple[str, str]:
    """The plain-text and HTML bodies of the email carrying the link."""
    _ = wording.text
    organisation = wording.organisation
    hello = _("Hello %(name)s,", name=name) if name else _("Hello,")
    lines = [_(NOT_RECEIVING), _(CONFIRM_THERE, days=LINK_DAYS)]
    text = [organisation.name, ""] if organisation.name else []
    text += [hello, "", *lines, "", link, "", _(IGNORE), ""]
    colour = accent(organisation)
    html = document(
        wording.lang,
        [
            organisation_header(organisation, base_url.rstrip("/") + "/"),
            f"<p>{escape(hello)}</p>",
            *(f"<p>{escape(line)}</p>" for line in lines),
            f'<p><a href="{escape(link)}" style="color:{colour}">'
            f"{escape(_(RECEIVE_AGAIN))}</a></p>",
            f'<p style="font-size:13px;color:#555">{escape(_(IGNORE))}</p>',
        ],
    )
    return "\n".join(text), html


async def forget_links(email: str | None) -> int:
    """Blank the opt-in emails to an address (the customer's erasure); unsent ones are not sent."""
    if not email:
        return 0
    rows = await Message.select(Message.id).where(
        (Message.kind == KIND) & (Message.recipient == email)
    )
    ids = [r["id"] for r in rows]
    await erase_messages(ids, recipient=True)
    return len(ids)
