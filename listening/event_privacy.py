"""The touchpoint events' share of personal data: what `surveys.privacy` needs from `listening`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from piccolo.query.functions.aggregate import Max

from listening.tables import Event
from surveys import privacy
from surveys.clock import Clock, system_clock


class StoredEvents:
    """`surveys.privacy.EventRecords` on listening's Event table."""

    async def export(self, external_id: str) -> list[dict[str, Any]]:
        """The customer's events, attributes included."""
        rows = await Event.select(
            Event.source_id, Event.type, Event.occurred_at, Event.received_at, Event.attributes
        ).where(Event.customer_external_id == external_id)
        for row in rows:
            if isinstance(row["attributes"], str):
                row["attributes"] = json.loads(row["attributes"])
        return rows

    async def erase(self, external_id: str, replacement: str) -> int:
        """Empty the events' attributes and put `replacement` in place of the customer id."""
        count = await Event.count().where(Event.customer_external_id == external_id)
        await Event.update({Event.attributes: "{}", Event.customer_external_id: replacement}).where(
            Event.customer_external_id == external_id
        )
        return count

    async def purge(self, before: datetime) -> int:
        """Empty the attributes of events received before `before`."""
        count = await Event.count().where(Event.received_at < before)
        await Event.update({Event.attributes: "{}"}).where(Event.received_at < before)
        return count

    async def last_seen(self, external_ids: list[str]) -> dict[str, datetime]:
        """The newest event received per customer id."""
        if not external_ids:
            return {}
        rows = (
            await Event.select(Event.customer_external_id, Max(Event.received_at, alias="last"))
            .where(Event.customer_external_id.is_in(external_ids))
            .group_by(Event.customer_external_id)
        )
        return {r["customer_external_id"]: _aware(r["last"]) for r in rows}


def _aware(value: Any) -> datetime:
    # SQLite answers MAX() of a timestamp column as its stored text.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


STORED_EVENTS = StoredEvents()


async def purge_personal_data(*, older_than_days: int, clock: Clock = system_clock) -> dict:
    """Remove personal data older than N days, events included (for the worker and the CLI)."""
    return await privacy.purge_personal_data(
        older_than_days=older_than_days, events=STORED_EVENTS, clock=clock
    )
