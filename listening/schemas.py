"""msgspec Structs at listening's HTTP edge: events, triggers, suppressions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from msgspec import UNSET, Meta, Struct, UnsetType

Id = Annotated[str, Meta(min_length=1, max_length=200)]
AttributeKey = Annotated[str, Meta(min_length=1, max_length=100)]
AttributeValue = str | int | float | bool
Attributes = Annotated[dict[AttributeKey, AttributeValue], Meta(max_length=50)]
Seconds = Annotated[int, Meta(ge=0, le=10 * 366 * 86400)]
Percent = Annotated[float, Meta(ge=0, le=100)]


class CustomerIn(Struct, forbid_unknown_fields=False):
    """The customer an event is about: the source's id, and what delivery needs."""

    id: Id
    email: Annotated[str, Meta(max_length=320)] | None = None
    name: Annotated[str, Meta(max_length=200)] | None = None
    locale: Annotated[str, Meta(max_length=35)] | None = None
    time_zone: Annotated[str, Meta(max_length=64)] | None = None


class EventIn(Struct):
    """A touchpoint event as a source sends it; `id` is the idempotency key."""

    id: Id
    type: Id
    occurred_at: datetime
    customer: CustomerIn
    attributes: Attributes = {}


class InvitationOutcome(Struct, omit_defaults=True):
    """What one matching trigger decided for an event."""

    trigger: str
    survey: str
    status: str  # scheduled | sampled_out | quarantined | opted_out | stale | undeliverable
    send_at: datetime | None = None
    survey_url: str | None = None


class EventAccepted(Struct):
    """The answer to an event: its id, whether it was seen before, and each trigger's outcome."""

    event_id: str
    duplicate: bool
    invitations: list[InvitationOutcome]


class EventResult(Struct, omit_defaults=True):
    """One event of a batch: its index and status, then its outcome or the field at fault."""

    index: int
    status_code: int
    event_id: str | None = None
    duplicate: bool | None = None
    invitations: list[InvitationOutcome] | None = None
    detail: str | None = None
    field: str | None = None


class EventBatchAccepted(Struct):
    """The answer to a batch: counts, then one result per event, in order."""

    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


class TriggerCreate(Struct):
    """A new trigger rule; durations are in seconds."""

    key: Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")]
    event_type: Id
    step: Annotated[str, Meta(min_length=1, max_length=100)]
    channel: str = "link"
    webhook_url: Annotated[str, Meta(max_length=2000)] | None = None
    sample_percent: Percent = 100.0
    delay_seconds: Seconds = 0
    expires_after_seconds: Annotated[int, Meta(ge=60, le=10 * 366 * 86400)] = 7 * 86400
    max_event_age_seconds: Annotated[int, Meta(ge=60, le=10 * 366 * 86400)] = 7 * 86400
    quarantine_seconds: Seconds | None = None
    reminder_after_seconds: Annotated[int, Meta(ge=60, le=366 * 86400)] | None = None
    filters: dict[str, Any] = {}
    active: bool = True


class TriggerUpdate(Struct):
    """Changes to a trigger; fields left out stay as they are."""

    event_type: Id | UnsetType = UNSET
    step: Annotated[str, Meta(min_length=1, max_length=100)] | UnsetType = UNSET
    channel: str | UnsetType = UNSET
    webhook_url: Annotated[str, Meta(max_length=2000)] | UnsetType | None = UNSET
    sample_percent: Percent | UnsetType = UNSET
    delay_seconds: Seconds | UnsetType = UNSET
    expires_after_seconds: Annotated[int, Meta(ge=60, le=10 * 366 * 86400)] | UnsetType = UNSET
    max_event_age_seconds: Annotated[int, Meta(ge=60, le=10 * 366 * 86400)] | UnsetType = UNSET
    quarantine_seconds: Seconds | UnsetType | None = UNSET
    reminder_after_seconds: Annotated[int, Meta(ge=60, le=366 * 86400)] | UnsetType | None = UNSET
    filters: dict[str, Any] | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class Trigger(Struct):
    """A trigger rule as the admin API shows it."""

    key: str
    event_type: str
    step: str
    channel: str
    webhook_url: str | None
    sample_percent: float
    delay_seconds: int
    expires_after_seconds: int
    max_event_age_seconds: int
    quarantine_seconds: int | None
    reminder_after_seconds: int | None
    filters: dict[str, Any]
    active: bool
    created_at: datetime


class SuppressionCreate(Struct):
    """An address that bounced or complained."""

    email: Annotated[str, Meta(min_length=3, max_length=320)]
    reason: Annotated[str, Meta(min_length=1, max_length=50)] = "bounce"


class Invitation(Struct):
    """An invitation as the admin API lists it, with its survey link."""

    uid: str
    trigger: str | None
    step: str
    customer: str
    email: str | None
    channel: str
    status: str
    created_at: datetime
    send_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    answered_at: datetime | None
    attempts: int
    last_error: str | None
    survey_url: str
