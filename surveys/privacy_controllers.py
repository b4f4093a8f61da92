"""HTTP for customers' personal data: access (export) and erasure. Admins only (the shell guards).

The app provides `event_records` (a `surveys.privacy.EventRecords`) by dependency injection,
because the events live in `listening`, which this package never imports.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK

from surveys.audit import actor_of, record_erasure
from surveys.clock import Clock
from surveys.privacy import customer_record, erase_customer


class CustomerPrivacyController(Controller):
    """Everything stored about one customer, and its erasure."""

    path = "/api/customers"
    tags = ["personal data"]

    @get(
        "/{customer_id:str}",
        summary="Everything stored about a customer (access and portability requests)",
    )
    async def export(
        self, customer_id: FromPath[str], event_records: NamedDependency[Any]
    ) -> dict[str, Any]:
        """The customer row, events, invitations (never their tokens), responses, follow-ups.

        `customer_id` is the customer's id in the source system (the events' `customer.id`).
        """
        return await customer_record(customer_id, events=event_records)

    @delete(
        "/{customer_id:str}",
        status_code=HTTP_200_OK,
        summary="Erase a customer's personal data, keep their anonymous scores",
    )
    async def erase(
        self,
        request: Request,
        customer_id: FromPath[str],
        event_records: NamedDependency[Any],
        settings: NamedDependency[Any],
        clock: NamedDependency[Clock],
    ) -> dict[str, Any]:
        """Erase email, name, locale, time zone, comments and attributes; the customer is
        never invited again. Answers with how many rows of each kind were changed."""
        counts = await erase_customer(
            customer_id, secret_key=settings.secret_key, events=event_records, clock=clock
        )
        await record_erasure(actor_of(request.user), customer_id, counts, settings.secret_key)
        return {"erased": True, "changed": counts}


PRIVACY_CONTROLLERS: list[type[Controller]] = [CustomerPrivacyController]
