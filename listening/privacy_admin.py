"""The privacy desk's services: suppressed addresses, opt-outs, and finding a customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from piccolo.columns.combination import WhereRaw

from surveys.clock import Clock, system_clock
from surveys.errors import Conflict, Invalid, NotFound
from surveys.tables import Customer, Invitation, Response, Suppression

LISTED = 500


@dataclass(frozen=True)
class Found:
    """A customer found by id or address, with counts of what is stored about them."""

    external_id: str
    email: str | None
    name: str | None
    locale: str | None
    opted_out_at: datetime | None
    erased_at: datetime | None
    created_at: datetime
    invitations: int
    responses: int


async def list_suppressions() -> list[dict[str, Any]]:
    """Suppressed addresses, newest first."""
    return await (
        Suppression.select()
        .order_by(Suppression.created_at, ascending=False)
        .order_by(Suppression.id, ascending=False)
        .limit(LISTED)
    )


async def remove_suppression(email: str) -> dict[str, Any]:
    """Allow emailing an address again; 404 naming `email` when it was not suppressed."""
    address = email.strip().lower()
    row = await Suppression.select().where(Suppression.email == address).first()
    if row is None:
        raise NotFound("This address is not suppressed.", field="email")
    await Suppression.delete().where(Suppression.email == address)
    return row


async def list_opt_outs() -> list[dict[str, Any]]:
    """Customers who opted out (erased ones left out: they are never invited anyway)."""
    return await (
        Customer.select(Customer.external_id, Customer.email, Customer.opted_out_at)
        .where(Customer.opted_out_at.is_not_null() & Customer.erased_at.is_null())
        .order_by(Customer.opted_out_at, ascending=False)
        .limit(LISTED)
    )


async def add_opt_out(external_id: str, *, clock: Clock = system_clock) -> datetime:
    """Opt a customer out of every survey on their behalf; only they can lift it."""
    if not external_id:
        raise Invalid("Enter the customer's id.", field="customer")
    row = await Customer.select().where(Customer.external_id == external_id).first()
    if row is None or row["erased_at"] is not None:
        raise NotFound("No customer has this id.", field="customer")
    if row["opted_out_at"] is not None:
        raise Conflict(
            f"This customer opted out on {row['opted_out_at']:%Y-%m-%d}.", field="customer"
        )
    now = clock()
    await Customer.update({Customer.opted_out_at: now}).where(Customer.id == row["id"])
    return now


async def find_customer(query: str) -> Found:
    """A customer by their source id or their email address (erased ones are not found)."""
    query = query.strip()
    if not query:
        raise Invalid("Enter a customer id or an email address.", field="q")
    condition = Customer.external_id == query
    if "@" in query:
        # Addresses are stored as the source system sent them: any letter case matches.
        condition = condition | WhereRaw('lower("email") = {}', query.lower())
    row = await Customer.select().where(condition & Customer.erased_at.is_null()).first()
    if row is None:
        raise NotFound("No customer has this id or address.", field="q")
    return Found(
        external_id=row["external_id"],
        email=row["email"],
        name=row["name"],
        locale=row["locale"],
        opted_out_at=row["opted_out_at"],
        erased_at=row["erased_at"],
        created_at=row["created_at"],
        invitations=await Invitation.count().where(Invitation.customer == row["id"]),
        responses=await Response.count().where(Response.customer == row["id"]),
    )
