"""Piccolo tables of the running system: API keys, touchpoint events, trigger rules, outbox."""

from __future__ import annotations

from piccolo.columns import JSON, Boolean, ForeignKey, Integer, Real, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from surveys.tables import Step


class ApiKey(Table):
    """A key other systems send as `Authorization: Bearer`; only its SHA-256 is stored."""

    name = Varchar(length=200)
    scope = Varchar(length=10)  # ingest | suppress | admin
    key_hash = Varchar(length=64, unique=True)
    prefix = Varchar(length=12)
    created_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


class Event(Table):
    """A touchpoint event as received; `source_id` is the sender's id and the idempotency key."""

    source_id = Varchar(length=200, unique=True)
    type = Varchar(length=200)
    occurred_at = Timestamptz()
    received_at = Timestamptz()
    customer_external_id = Varchar(length=200, index=True)
    attributes = JSON(default="{}")
    outcome = JSON(default="[]")  # the invitations answer, replayed for duplicates


class Trigger(Table):
    """A rule turning events of one type into invitations to one step's survey."""

    key = Varchar(length=200, unique=True)
    event_type = Varchar(length=200, index=True)
    step = ForeignKey(references=Step, on_delete=OnDelete.restrict)
    channel = Varchar(length=10)  # email | link | webhook
    webhook_url = Varchar(length=2000, null=True, default=None)
    sample_percent = Real(default=100.0)
    delay_seconds = Integer(default=0)
    expires_after_seconds = Integer(default=7 * 86400)
    max_event_age_seconds = Integer(default=7 * 86400)
    quarantine_seconds = Integer(null=True, default=None)  # None: the global rule
    reminder_after_seconds = Integer(null=True, default=None)  # None: no reminder
    filters = JSON(default="{}")
    active = Boolean(default=True)
    created_at = Timestamptz()


class Setting(Table, tablename="app_setting"):
    """Organisation-wide rules set by the journey file, such as the global quarantine."""

    key = Varchar(length=100, unique=True)
    value = Text()


class WebSession(Table):
    """A logged-in browser's session data, found by the SHA-256 of its cookie's random id.

    Rows past `expires_at` are never read and are deleted as logins come in.
    """

    key_hash = Varchar(length=64, unique=True)
    data = Text()
    expires_at = Timestamptz(null=True, default=None, index=True)
