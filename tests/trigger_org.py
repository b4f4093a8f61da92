"""Test data for listening posts: a small organisation with triggers, events and a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from listening.journeys import load_journey_file
from listening.schemas import CustomerIn, EventIn
from surveys.tables import Invitation
from surveys.tokens import token_hash

# A Wednesday at noon UTC: inside the day in Europe and the Americas.
NOW = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)

JOURNEY = """
[settings]
quarantine = "30d"

[[departments]]
key = "support"
name = "Customer Support"

[[journeys]]
key = "get-help"
name = "Get help"

  [[journeys.steps]]
  key = "ticket-resolved"
  name = "Your request is resolved"
  department = "support"

    [[journeys.steps.questions]]
    key = "csat"
    kind = "csat"
    customer = { en = "How satisfied are you with how we resolved it?", de = "Wie zufrieden?" }
    employee = "How satisfied are customers with how we resolve their requests?"

    [[journeys.steps.questions]]
    key = "comment"
    kind = "text"
    required = false
    customer = "What could we have done better?"

  [[journeys.steps]]
  key = "order-delivered"
  name = "Your order arrives"
  department = "support"

    [[journeys.steps.questions]]
    key = "nps"
    kind = "nps"
    customer = "How likely are you to recommend us?"
    employee = "How likely are customers to recommend us after delivery?"
"""

TRIGGERS = """
[[triggers]]
key = "ticket-link"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "link"
"""


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        self.now += timedelta(**delta)


async def load_org(triggers: str = TRIGGERS) -> None:
    """The organisation, the global 30-day quarantine and the given triggers."""
    await load_journey_file(JOURNEY + triggers)


def event(
    n: int | str,
    *,
    type: str = "ticket.closed",
    customer: str | None = None,
    occurred_at: datetime = NOW,
    email: str | None = None,
    attributes: dict[str, Any] | None = None,
    **customer_fields: Any,
) -> EventIn:
    """An event with id `e<n>` for customer `c<n>` unless told otherwise."""
    return EventIn(
        id=f"e{n}",
        type=type,
        occurred_at=occurred_at,
        customer=CustomerIn(id=customer or f"c{n}", email=email, **customer_fields),
        attributes=attributes or {},
    )


def event_json(n: int | str, **fields: Any) -> dict[str, Any]:
    """The JSON body of an event, as a source sends it."""
    body: dict[str, Any] = {
        "id": f"e{n}",
        "type": "ticket.closed",
        "occurred_at": datetime.now(UTC).isoformat(),  # the app under HTTP runs on real time
        "customer": {"id": f"c{n}"},
        "attributes": {},
    }
    body.update(fields)
    return body


async def invitation_for_url(url: str) -> dict | None:
    """The invitation a survey link opens, found by its token's hash as the survey page does."""
    token = url.rsplit("/s/", 1)[1].split("?")[0].split("/")[0]
    return await Invitation.select().where(Invitation.token_hash == token_hash(token)).first()
