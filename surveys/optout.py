"""Opting out of survey invitations from a link in any invitation (RFC 8058 one-click too).

The link works whatever became of the invitation (answered, expired): an old email must still
let its reader stop all further invitations. The trigger rules read `Customer.opted_out_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from surveys.audit import CUSTOMER, person_ref, record
from surveys.clock import Clock, system_clock
from surveys.errors import NotFound
from surveys.tables import Customer, Invitation
from surveys.tokens import token_hash
from surveys.transactions import write_transaction

TOKEN_MAX = 100


@dataclass(frozen=True)
class OptOutState:
    """Whether the customer of an invitation has opted out, and since when."""

    customer_id: int
    opted_out_at: datetime | None


async def opt_out_state(token: str) -> OptOutState:
    """The opt-out state of the customer a token was sent to; 404 for an unknown token."""
    if not token or len(token) > TOKEN_MAX:
        raise NotFound("This page does not exist.")
    row = (
        await Invitation.select(
            Invitation.customer, Invitation.customer.opted_out_at.as_alias("opted_out_at")
        )
        .where(Invitation.token_hash == token_hash(token))
        .first()
    )
    if row is None or row["customer"] is None:
        raise NotFound("This page does not exist.")
    return OptOutState(customer_id=row["customer"], opted_out_at=row["opted_out_at"])


async def opt_out(token: str, *, secret_key: str, clock: Clock = system_clock) -> OptOutState:
    """Stop all further invitations to this customer; repeating it keeps the first time.

    The opt-out list is configuration: the audit log records the change with the actor
    "customer", naming them only by the keyed hash of their id (`audit.person_ref`).
    """
    state = await opt_out_state(token)
    if state.opted_out_at is not None:
        return state
    now = clock()
    async with write_transaction():
        changed = (
            await Customer.update({Customer.opted_out_at: now})
            .where((Customer.id == state.customer_id) & Customer.opted_out_at.is_null())
            .returning(Customer.external_id)
        )
        if changed:  # not opted out meanwhile by a second click
            await record_own_choice(
                changed[0]["external_id"], "add", None, now, secret_key=secret_key, clock=clock
            )
    return OptOutState(customer_id=state.customer_id, opted_out_at=now)


async def record_own_choice(
    external_id: str,
    action: str,
    before: datetime | None,
    after: datetime | None,
    *,
    secret_key: str,
    clock: Clock = system_clock,
) -> None:
    """The audit entry of a customer's own opt-out ("add") or opt-back-in ("remove"): the actor
    "customer", who is named only by the keyed hash of their id."""
    ref = person_ref(external_id, secret_key)
    await record(
        CUSTOMER,
        "opt_out",
        action,
        ref,
        before={"opted_out_at": before},
        after={"opted_out_at": after},
        person=ref,
        clock=clock,
    )
