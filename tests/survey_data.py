"""Test data for the customer-survey tests: a small organisation and invitations to it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from surveys.journey_file import load_journey
from surveys.tables import Customer, Invitation, Step, Survey
from surveys.tokens import invitation_token, token_hash

JOURNEY = """
[[departments]]
key = "support"
name = "Customer Support"
follow_up_email = "support-leads@example.com"

[[departments]]
key = "billing"
name = "Billing"

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
    employee = "How satisfied are customers with how we resolve their requests?"
      [journeys.steps.questions.customer]
      en = "How satisfied are you with how we resolved your request?"
      de = "Wie zufrieden sind Sie mit der Lösung Ihrer Anfrage?"

    [[journeys.steps.questions]]
    key = "effort"
    kind = "ces"
    required = false
    customer = "How easy was it to get your request resolved?"
    employee = "How easy is it for customers to get their requests resolved?"

    [[journeys.steps.questions]]
    key = "channel"
    kind = "choice"
    required = false
    options = ["Phone", "Chat", "Email"]
    customer = "How did you contact us?"

    [[journeys.steps.questions]]
    key = "comment"
    kind = "text"
    required = false
      [journeys.steps.questions.customer]
      en = "What could we have done better?"
      de = "Was hätten wir besser machen können?"

  [[journeys.steps]]
  key = "invoice-paid"
  name = "Your invoice is paid"
  department = "billing"

    [[journeys.steps.questions]]
    key = "nps"
    kind = "nps"
    customer = "How likely are you to recommend us to a friend?"
    employee = "How likely are customers to recommend us to a friend?"

    [[journeys.steps.questions]]
    key = "why"
    kind = "text"
    required = false
    customer = "Why?"
"""

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


async def load_org() -> None:
    """Departments, a journey with two steps and their surveys."""
    await load_journey(JOURNEY)


async def make_invitation(
    secret_key: str,
    *,
    step_key: str = "ticket-resolved",
    customer: str = "cust-1",
    locale: str | None = None,
    attributes: dict | None = None,
    status: str = "sent",
    expires_at: datetime | None = None,
) -> tuple[str, int]:
    """An invitation to the step's active survey; returns its token and id."""
    step = await Step.select(Step.id).where(Step.key == step_key).first()
    survey = (
        await Survey.select(Survey.id)
        .where((Survey.step == step["id"]) & Survey.active.eq(True))
        .first()
    )
    existing = await Customer.select(Customer.id).where(Customer.external_id == customer).first()
    if existing is None:
        rows = await Customer.insert(
            Customer(external_id=customer, email=f"{customer}@example.com", created_at=NOW)
        ).returning(Customer.id)
        customer_id = rows[0]["id"]
    else:
        customer_id = existing["id"]
    uid = str(uuid.uuid4())
    token = invitation_token(secret_key, uid)
    rows = await Invitation.insert(
        Invitation(
            uid=uid,
            token_hash=token_hash(token),
            customer=customer_id,
            survey=survey["id"],
            step=step["id"],
            channel="email",
            status=status,
            locale=locale,
            attributes=json.dumps(attributes or {}),
            created_at=NOW - timedelta(hours=1),
            send_at=NOW - timedelta(hours=1),
            sent_at=NOW - timedelta(hours=1),
            expires_at=expires_at or NOW + timedelta(days=7),
        )
    ).returning(Invitation.id)
    return token, rows[0]["id"]


def fixed_clock(at: datetime = NOW):
    """A clock standing still at `at`."""
    return lambda: at
