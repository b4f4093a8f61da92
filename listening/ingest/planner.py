"""What a batch of new events writes, decided from plain data, for both engines.

Each engine's writer reads what the decisions need (stored customers, erased ones, suppressed
addresses, the rules) and hands it here; this module decides and says which rows to write:
new and changed customers, each event's outcome, and the invitations. It does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from listening.ingest.batch import Batch
from listening.schemas import CustomerIn, EventIn
from listening.triggers import CustomerState, Decision, Rules, decide
from surveys.privacy import pseudonym

# The stored customer columns the decisions need, in StoredCustomer's order.
CUSTOMER_COLUMNS = "id, external_id, email, time_zone, locale, opted_out_at, last_invited_at, name"


class StoredCustomer(NamedTuple):
    """A stored customer row, as both writers read it (CUSTOMER_COLUMNS)."""

    id: int
    external_id: str
    email: str | None
    time_zone: str | None
    locale: str | None
    opted_out_at: datetime | None
    last_invited_at: datetime | None
    name: str | None


class CustomerFields(NamedTuple):
    """A customer's contact fields as the batch's events give them (None: not given)."""

    email: str | None
    name: str | None
    locale: str | None
    time_zone: str | None


@dataclass(slots=True)
class CustomerPlan:
    """A customer of the batch: as the rules see it, and as it is to be stored."""

    external_id: str
    state: CustomerState
    name: str | None
    stored: StoredCustomer | None

    def changed(self) -> bool:
        """Whether a stored customer's row differs from what is to be stored."""
        s, c = self.stored, self.state
        assert s is not None
        return (c.email, c.time_zone, c.locale, c.last_invited_at, self.name) != (
            s.email,
            s.time_zone,
            s.locale,
            s.last_invited_at,
            s.name,
        )


@dataclass(slots=True)
class InvitationPlan:
    """A scheduled invitation: its decision, for whom, for which event, with which key."""

    source_id: str
    decision: Decision
    customer: CustomerPlan
    attributes: str
    created_at: datetime
    lookup_key: str


@dataclass
class BatchPlan:
    """The rows a batch's new events write, besides the events themselves."""

    new_customers: list[CustomerPlan] = field(default_factory=list)
    changed_customers: list[CustomerPlan] = field(default_factory=list)
    invitations: list[InvitationPlan] = field(default_factory=list)


def pseudonyms(batch: Batch, new_ids: list[str], secret_key: str) -> dict[str, str]:
    """The erased-customer pseudonym of every customer id among the new events
    (pseudonym -> customer id)."""
    return {
        pseudonym(batch.events[i].customer.id, secret_key): batch.events[i].customer.id
        for i in new_ids
    }


def forget_erased(batch: Batch, new_ids: list[str], erased: set[str], secret_key: str) -> None:
    """Point new events of erased customers at their pseudonymous row, with nothing personal.

    The erased row keeps its opt-out, so the rules answer `opted_out`, and neither the contact
    details nor the attributes of the new event are stored again.
    """
    for i in new_ids:
        event = batch.events[i]
        if event.customer.id in erased:
            batch.precomputed.pop(i, None)  # made with the attributes that are not stored
            batch.events[i] = msgspec.structs.replace(
                event,
                customer=CustomerIn(id=pseudonym(event.customer.id, secret_key)),
                attributes={},
            )


def merge_customers(events: Iterable[EventIn]) -> dict[str, CustomerFields]:
    """Each customer's fields over the batch: later non-empty fields win, as one by one."""
    merged: dict[str, CustomerFields] = {}
    for event in events:
        c = event.customer
        given = CustomerFields(c.email, c.name, c.locale, c.time_zone)
        earlier = merged.get(c.id)
        if earlier is not None:
            given = CustomerFields(
                *(old if new is None else new for new, old in zip(given, earlier, strict=True))
            )
        merged[c.id] = given
    return merged


def plan_customers(
    merged: dict[str, CustomerFields], stored: dict[str, StoredCustomer], next_id: int | None
) -> dict[str, CustomerPlan]:
    """The batch's customers: the events' fields over the stored row, if any. New customers
    are numbered from `next_id`, or get 0 where the write gives out their ids (None)."""
    customers: dict[str, CustomerPlan] = {}
    for external_id, fields in merged.items():
        row = stored.get(external_id)
        if row is None:
            state = CustomerState(
                next_id or 0, fields.email, fields.time_zone, fields.locale, None, None
            )
            if next_id is not None:
                next_id += 1
            customers[external_id] = CustomerPlan(external_id, state, fields.name, None)
            continue
        state = CustomerState(
            row.id,
            fields.email or row.email,
            fields.time_zone or row.time_zone,
            fields.locale or row.locale,
            row.opted_out_at,
            row.last_invited_at,
        )
        customers[external_id] = CustomerPlan(external_id, state, fields.name or row.name, row)
    return customers


def emails_to_check(customers: dict[str, CustomerPlan]) -> list[str]:
    """The customers' addresses, lower-cased, as the suppression list holds them."""
    return list({c.state.email.lower() for c in customers.values() if c.state.email})


def mark_suppressed(customers: dict[str, CustomerPlan], suppressed: set[str]) -> None:
    """Mark the customers whose address is on the suppression list."""
    for c in customers.values():
        email = c.state.email
        c.state.suppressed = bool(email) and email.lower() in suppressed


def plan_batch(
    batch: Batch,
    new_ids: list[str],
    customers: dict[str, CustomerPlan],
    rules: Rules,
    secret_key: str,
) -> BatchPlan:
    """Decide every new event in arrival order (their outcomes go to `batch.new_outcomes`),
    and say which customers and invitations to write."""
    plan = BatchPlan()
    for source_id in new_ids:
        event = batch.events[source_id]
        customer = customers[event.customer.id]
        decisions = decide(
            event,
            event.attributes,
            customer.state,
            rules,
            batch.received_at[source_id],
            batch.precomputed_uid(source_id),
        )
        batch.new_outcomes[source_id] = [d.outcome() for d in decisions]
        for d in decisions:
            if d.status == "scheduled":
                plan.invitations.append(
                    InvitationPlan(
                        source_id,
                        d,
                        customer,
                        batch.attributes(source_id),
                        batch.received_at[source_id],
                        batch.lookup_key(source_id, d, secret_key),
                    )
                )
    for c in customers.values():
        if c.stored is None:
            plan.new_customers.append(c)
        elif c.changed():
            plan.changed_customers.append(c)
    return plan


def _same_moment(moment: Any) -> Any:
    return moment


def invitation_row(
    invitation: InvitationPlan, when: Callable[[Any], Any] = _same_moment
) -> list[Any]:
    """An invitation's row in INVITATION_COLUMNS order, without the ids of its event and
    customer that close it; `when` writes each moment as the engine stores it."""
    d, rule = invitation.decision, invitation.decision.rule
    assert d.uid is not None and d.send_at is not None and d.expires_at is not None
    link = rule.channel == "link"
    created, send_at = when(invitation.created_at), when(d.send_at)
    return [
        d.uid,
        invitation.lookup_key,
        rule.key,
        rule.survey_id,
        rule.step_id,
        rule.channel,
        "sent" if link else "scheduled",  # a link is handed over in the answer itself
        invitation.customer.state.locale,
        invitation.attributes,
        created,
        send_at,
        when(d.expires_at),
        created if link else None,
        when(d.remind_at),
        send_at,
        rule.webhook_url,
    ]


INVITATION_COLUMNS = (
    "uid, token_hash, trigger_key, survey, step, channel, status, locale, attributes, "
    "created_at, send_at, expires_at, sent_at, remind_at, next_attempt_at, webhook_url, "
    "event_id, customer"
)
