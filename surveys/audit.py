"""The audit log: every configuration change, who made it, when, and the object before and after.

Services and controllers call `record` with the actor (`actor_of` names the request's user or
key). Responses and employee ratings are never recorded. An entry about a customer names them
only by `person_ref`, a keyed hash of their id (or of an address, for suppressions); erasing the
customer calls `forget_person`, which blanks the details of every entry about them.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from surveys.clock import Clock, system_clock
from surveys.errors import DomainError
from surveys.tables import AuditEntry

KINDS = (
    "department",
    "journey",
    "step",
    "survey",
    "trigger",
    "configuration",
    "template",
    "user",
    "api_key",
    "round",
    "suppression",
    "opt_out",
    "erasure",
    "invitation",
    "follow_up",
)
FORGOTTEN = "erased"
# The actor of a change a customer makes themselves (their opt-out through their link).
CUSTOMER = "customer"
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 12, 31, 23, 59, 59, tzinfo=UTC)


class OutOfRange(DomainError):
    """A filter date outside the years the log can hold (400)."""

    status_code = 400


@dataclass(frozen=True)
class Entry:
    """One recorded change as the console and the API show it."""

    id: int
    at: datetime
    actor: str
    kind: str
    action: str
    subject: str
    before: Any
    after: Any

    def changes(self) -> list[tuple[str, Any, Any]]:
        """The top-level fields an update changed, as (field, before, after)."""
        if not isinstance(self.before, dict) or not isinstance(self.after, dict):
            return []
        names = [*self.before, *(k for k in self.after if k not in self.before)]
        return [
            (k, self.before.get(k), self.after.get(k))
            for k in names
            if self.before.get(k) != self.after.get(k)
        ]


def actor_of(user: Any) -> str:
    """Who a request acts as: the account's email, or `key:<name>` for an API key."""
    account = getattr(user, "account", None)
    if account is not None:
        return account.email
    key = getattr(user, "key", None)
    if key is not None:
        return f"key:{key.name}"
    return "anonymous"


def person_ref(identifier: str, secret_key: str) -> str:
    """A keyed hash naming a customer (by their source id) or an address in the log."""
    text = identifier.strip().lower() if "@" in identifier else identifier
    digest = hmac.digest(secret_key.encode(), b"audit\x00" + text.encode(), "sha256")
    return "person:" + digest.hex()[:32]


def _plain(value: Any) -> Any:
    if value is None:
        return None
    return msgspec.to_builtins(value, builtin_types=(datetime,), str_keys=True)


def _json_safe(value: Any) -> Any:
    # Dates as RFC 3339 text: both engines store the JSON the same way.
    return msgspec.json.decode(msgspec.json.encode(value)) if value is not None else None


async def record(
    actor: str,
    kind: str,
    action: str,
    subject: str,
    *,
    before: Any = None,
    after: Any = None,
    person: str | None = None,
    clock: Clock = system_clock,
) -> None:
    """Record one change; call inside the change's transaction where there is one."""
    await AuditEntry.insert(
        AuditEntry(
            at=clock(),
            actor=actor[:320],
            kind=kind,
            action=action,
            subject=subject[:300],
            person=person,
            before_state=_json_safe(_plain(before)),
            after_state=_json_safe(_plain(after)),
        )
    )


async def forget_person(ref: str) -> int:
    """Blank what the log holds about a person (their erasure); returns the entries touched."""
    rows = await AuditEntry.select(AuditEntry.id).where(AuditEntry.person == ref)
    if rows:
        await AuditEntry.update(
            {
                AuditEntry.subject: FORGOTTEN,
                AuditEntry.before_state: None,
                AuditEntry.after_state: None,
            }
        ).where(AuditEntry.person == ref)
    return len(rows)


async def forget_customer(external_id: str, email: str | None, secret_key: str) -> int:
    """Blank the entries about a customer, by their id or their address (their erasure)."""
    forgotten = await forget_person(person_ref(external_id, secret_key))
    return forgotten + (await forget_person(person_ref(email, secret_key)) if email else 0)


async def record_erasure(
    actor: str, external_id: str, counts: dict[str, int], secret_key: str
) -> None:
    """Record a customer's erasure, naming them only by the keyed hash of their id."""
    await record(actor, "erasure", "erase", person_ref(external_id, secret_key), after=counts)


async def record_suppression(actor: str, email: str, reason: str, secret_key: str) -> None:
    """Record a suppressed address, named only by its keyed hash."""
    ref = person_ref(email, secret_key)
    await record(actor, "suppression", "add", ref, after={"reason": reason}, person=ref)


def check_period(value: datetime | None, field: str) -> datetime | None:
    """A filter date inside 1970–2100 (naive dates read as UTC); 400 naming the field otherwise."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value <= LATEST:
        raise OutOfRange(f"{field} must lie between 1970 and 2100", field=field)
    return value


async def list_entries(
    *,
    kind: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Entry]:
    """Entries newest first, filtered by kind, actor and a period (`until` excluded)."""
    since = check_period(since, "since")
    until = check_period(until, "until")
    query = AuditEntry.select().output(load_json=True)
    if kind:
        query = query.where(AuditEntry.kind == kind)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    rows = (
        await query.order_by(AuditEntry.at, ascending=False)
        .order_by(AuditEntry.id, ascending=False)
        .limit(max(1, min(limit, 1000)))
        .offset(max(0, offset))
    )
    return [
        Entry(
            id=r["id"],
            at=r["at"],
            actor=r["actor"],
            kind=r["kind"],
            action=r["action"],
            subject=r["subject"],
            before=r["before_state"],
            after=r["after_state"],
        )
        for r in rows
    ]


async def actors() -> list[str]:
    """Everyone who has changed something, for the console's filter."""
    rows = await AuditEntry.select(AuditEntry.actor).distinct().order_by(AuditEntry.actor)
    return [r["actor"] for r in rows]
