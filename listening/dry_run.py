"""The dry run of an event: which triggers match and what each decides, storing nothing.

It answers "why did (or didn't) this customer get a survey?". `explain` is pure: the event, the
customer's state and the rules in, one verdict per trigger of the event's type out, each with the
checks in the order ingestion makes them (`listening.triggers.decide`, whose verdict it reports).
The I/O around it is two reads: the active rules, and the customer's state. An ingest key gets the
rule decisions without the customer's history (opt-out, suppression, last invitation); an admin
gets everything. The same dry run serves `POST /api/events/dry-run`, the console's trigger page
and `listening ingest --dry-run`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from listening.errors import field_of
from listening.schemas import EventIn
from listening.tables import Trigger
from listening.trigger_file import global_quarantine_seconds
from listening.triggers import (
    CustomerState,
    Rule,
    Rules,
    decide,
    matches,
    rules_from_rows,
    sample_point,
)
from surveys.errors import DomainError, Invalid
from surveys.privacy import pseudonym
from surveys.tables import Customer, Suppression, Survey

QUIET_NOTE = ", outside 21:00–08:00 in the customer's zone"


class BadEvent(DomainError):
    """The pasted text is not JSON at all (400)."""

    status_code = 400


@dataclass(frozen=True)
class Check:
    """One step of a decision: its name, whether it passed (None: not consulted), and why."""

    name: str
    passed: bool | None
    detail: str


@dataclass(frozen=True)
class Verdict:
    """What one trigger of the event's type decides, and the checks that led there."""

    trigger: str
    step: str
    channel: str
    status: str  # scheduled | filtered_out | no_survey | stale | opted_out | undeliverable | ...
    checks: tuple[Check, ...]
    send_at: datetime | None = None
    expires_at: datetime | None = None
    remind_at: datetime | None = None


@dataclass(frozen=True)
class CustomerView:
    """The customer as the rules saw them; history fields are None when not consulted."""

    id: str
    known: bool | None
    erased: bool | None
    opted_out_at: datetime | None
    last_invited_at: datetime | None
    suppressed: bool | None


@dataclass(frozen=True)
class DryRun:
    """The whole answer: the event, the customer, and one verdict per trigger of its type."""

    event_id: str
    event_type: str
    now: datetime
    history_consulted: bool
    customer: CustomerView
    verdicts: tuple[Verdict, ...]
    other_event_types: tuple[str, ...] = field(default=())

    @property
    def invited(self) -> bool:
        """Whether some trigger would schedule an invitation."""
        return any(v.status == "scheduled" for v in self.verdicts)


# --- reading an event ------------------------------------------------------------------------


def parse_event(raw: str | bytes) -> EventIn:
    """An event as `POST /api/events` takes it; 400 for text that is not JSON, 422 naming the
    field for JSON that is not an event."""
    try:
        event = msgspec.json.decode(raw, type=EventIn)
    except msgspec.ValidationError as exc:
        message = str(exc)
        raise Invalid(message, field=field_of({"message": message}) or "body") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BadEvent(f"the event is not valid JSON: {exc}", field="body") from None
    if event.occurred_at.tzinfo is None:
        raise Invalid(
            "occurred_at needs a time zone (RFC 3339, e.g. Z or +02:00)", field="occurred_at"
        )
    return event


# --- the pure decision -----------------------------------------------------------------------


def _failed_filters(filters: dict[str, Any], attributes: dict[str, Any]) -> list[str]:
    return [name for name, cond in filters.items() if not matches({name: cond}, attributes)]


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _checks(
    event: EventIn,
    rule: Rule,
    rules: Rules,
    customer: CustomerState,
    now: datetime,
    history: bool,
) -> list[Check]:
    """The checks of `_decide_one`, in its order, each stating what it compared."""
    checks = [Check("event type", True, f"the trigger listens to {rule.event_type!r}")]
    if rule.survey_id is None:
        return [*checks, Check("survey", False, f"step {rule.step_key!r} has no active survey")]
    checks.append(Check("survey", True, f"step {rule.step_key!r} has an active survey"))
    failed = _failed_filters(rule.filters, event.attributes)
    if failed:
        detail = "; ".join(
            f"{name}: wants {rule.filters[name]!r}, event has "
            + (repr(event.attributes[name]) if name in event.attributes else "nothing")
            for name in failed
        )
        return [*checks, Check("filters", False, detail)]
    checks.append(
        Check("filters", True, "no filters" if not rule.filters else "every filter matches")
    )
    oldest = now - rule.max_age
    checks.append(
        Check(
            "event age",
            event.occurred_at >= oldest,
            f"occurred {_when(event.occurred_at)}; events older than "
            f"{_span(rule.max_event_age_seconds)} are not surveyed",
        )
    )
    if history:
        checks.append(
            Check(
                "opt-out",
                customer.opted_out_at is None,
                "not opted out"
                if customer.opted_out_at is None
                else f"opted out {_when(customer.opted_out_at)}",
            )
        )
        if rule.channel == "email":
            checks.append(
                Check(
                    "suppression",
                    not customer.suppressed,
                    "the address bounced or complained"
                    if customer.suppressed
                    else "the address is not suppressed",
                )
            )
    else:
        checks.append(Check("opt-out", None, "not consulted (needs an admin)"))
    if rule.channel == "email":
        checks.append(
            Check(
                "email address",
                bool(customer.email),
                "the event names an address" if customer.email else "no address to email",
            )
        )
    point = sample_point(event.id, rule.key)
    checks.append(
        Check(
            "sampling",
            rule.sample_percent >= 100 or point < rule.sample_percent,
            f"this event draws {point:.2f} of 100; the trigger samples below "
            f"{rule.sample_percent:g}",
        )
    )
    quarantine = (
        rule.quarantine_seconds if rule.quarantine_seconds is not None else rules.quarantine_seconds
    )
    if history:
        last = customer.last_invited_at
        inside = last is not None and quarantine > 0 and last > now - timedelta(seconds=quarantine)
        checks.append(
            Check(
                "contact frequency",
                not inside,
                f"last invited {_when(last)}; at most one invitation every {_span(quarantine)}",
            )
        )
    else:
        checks.append(
            Check(
                "contact frequency",
                None,
                f"not consulted (needs an admin); the window is {_span(quarantine)}",
            )
        )
    return checks


def explain(
    event: EventIn,
    customer: CustomerState,
    rules: Rules,
    now: datetime,
    *,
    history: bool,
    view: CustomerView,
) -> DryRun:
    """Every trigger of the event's type with its verdict and checks; nothing is stored.

    The verdicts are `decide`'s, on a copy of the customer, so a dry run and an ingestion of the
    same event against the same state agree.
    """
    trying = copy.copy(customer)
    decisions = {d.rule.key: d for d in decide(event, event.attributes, trying, rules, now)}
    walking = copy.copy(customer)
    verdicts = []
    for rule in rules.by_type.get(event.type, ()):
        checks = _checks(event, rule, rules, walking, now, history)
        decision = decisions.get(rule.key)
        if decision is None:
            status = "no_survey" if rule.survey_id is None else "filtered_out"
            verdicts.append(Verdict(rule.key, rule.step_key, rule.channel, status, tuple(checks)))
            continue
        if decision.status == "scheduled":
            walking.last_invited_at = now
            checks.append(
                Check(
                    "timing",
                    True,
                    f"sent {_when(decision.send_at)} (delay {_span(rule.delay_seconds)}"
                    + (QUIET_NOTE if rule.channel == "email" else "")
                    + f"), expires {_when(decision.expires_at)}",
                )
            )
        verdicts.append(
            Verdict(
                rule.key,
                rule.step_key,
                rule.channel,
                decision.status,
                tuple(checks),
                decision.send_at,
                decision.expires_at,
                decision.remind_at,
            )
        )
    others = tuple(sorted(t for t in rules.by_type if t != event.type))
    return DryRun(event.id, event.type, now, history, view, tuple(verdicts), others)


# --- the two reads ---------------------------------------------------------------------------


async def read_rules() -> Rules:
    """The active triggers as ingestion sees them: the rows `listening.triggers.RULES_SQL` reads."""
    rows = (
        await Trigger.select(
            Trigger.key,
            Trigger.event_type,
            Trigger.step,
            Trigger.step.key.as_alias("step_key"),
            Trigger.channel,
            Trigger.webhook_url,
            Trigger.sample_percent,
            Trigger.delay_seconds,
            Trigger.expires_after_seconds,
            Trigger.max_event_age_seconds,
            Trigger.quarantine_seconds,
            Trigger.reminder_after_seconds,
            Trigger.filters,
        )
        .where(Trigger.active == True)
        .order_by(Trigger.id)
    )
    surveys: dict[int, int] = {}
    for s in (
        await Survey.select(Survey.id, Survey.step)
        .where(Survey.active == True)
        .order_by(Survey.version)
    ):
        surveys[s["step"]] = s["id"]  # the latest active version wins, as in RULES_SQL
    quarantine = str(await global_quarantine_seconds())
    return rules_from_rows(
        [
            (
                r["key"],
                r["event_type"],
                r["step"],
                r["step_key"],
                r["channel"],
                r["webhook_url"],
                r["sample_percent"],
                r["delay_seconds"],
                r["expires_after_seconds"],
                r["max_event_age_seconds"],
                r["quarantine_seconds"],
                r["reminder_after_seconds"],
                r["filters"],
                surveys.get(r["step"]),
                quarantine,
            )
            for r in rows
        ]
    )


async def read_customer(
    event: EventIn, secret_key: str, *, history: bool
) -> tuple[CustomerState, CustomerView]:
    """The customer as the rules see them: the event's fields over the stored row (admins), or
    the event's fields alone (ingest keys)."""
    c = event.customer
    if not history:
        state = CustomerState(0, c.email, c.time_zone, c.locale, None, None)
        return state, CustomerView(c.id, None, None, None, None, None)
    columns = (
        Customer.id,
        Customer.external_id,
        Customer.email,
        Customer.time_zone,
        Customer.locale,
        Customer.opted_out_at,
        Customer.last_invited_at,
    )
    erased_id = pseudonym(c.id, secret_key)
    rows = await Customer.select(*columns).where(Customer.external_id.is_in([c.id, erased_id]))
    by_id = {r["external_id"]: r for r in rows}
    erased = erased_id in by_id
    row = by_id.get(erased_id) or by_id.get(c.id)
    if erased:
        # Ingestion keeps nothing of an erased customer's new events: only the opt-out counts.
        state = CustomerState(
            row["id"], None, None, None, row["opted_out_at"], row["last_invited_at"]
        )
    elif row is None:
        state = CustomerState(0, c.email, c.time_zone, c.locale, None, None)
    else:
        state = CustomerState(
            row["id"],
            c.email or row["email"],
            c.time_zone or row["time_zone"],
            c.locale or row["locale"],
            row["opted_out_at"],
            row["last_invited_at"],
        )
    if state.email:
        state.suppressed = await Suppression.exists().where(
            Suppression.email == state.email.lower()
        )
    view = CustomerView(
        c.id, row is not None, erased, state.opted_out_at, state.last_invited_at, state.suppressed
    )
    return state, view


async def dry_run(event: EventIn, *, secret_key: str, now: datetime, history: bool) -> DryRun:
    """Read the rules and the customer, then explain the event's decisions."""
    rules = await read_rules()
    customer, view = await read_customer(event, secret_key, history=history)
    if view.erased:
        # As ingestion does: nothing of an erased customer's new event is kept or matched.
        event = msgspec.structs.replace(event, attributes={})
    return explain(event, customer, rules, now, history=history, view=view)


# --- the command line ------------------------------------------------------------------------


def describe(result: DryRun) -> list[str]:
    """A dry run as lines of text: the event, then each trigger's verdict and failed checks."""
    lines = [f"{result.event_id} ({result.event_type}):"]
    if not result.verdicts:
        lines.append(f"  no active trigger listens to {result.event_type!r}")
    for v in result.verdicts:
        when = f", send {_when(v.send_at)}, expires {_when(v.expires_at)}" if v.send_at else ""
        lines.append(f"  {v.trigger} -> {v.step} ({v.channel}): {v.status}{when}")
        lines.extend(f"    {c.name}: {c.detail}" for c in v.checks if c.passed is False)
    return lines


async def dry_run_lines(path: Any, *, secret_key: str, now: datetime | None = None) -> list[str]:
    """Dry-run every event of an NDJSON file (with the customers' history); storing nothing."""
    moment = now or datetime.now(UTC)
    rules = await read_rules()
    lines: list[str] = []
    seen: dict[str, tuple[CustomerState, CustomerView]] = {}
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                event = parse_event(raw)
            except DomainError as exc:
                lines.append(f"line {number}: {exc.field}: {exc.message}")
                continue
            if event.customer.id not in seen:
                seen[event.customer.id] = await read_customer(event, secret_key, history=True)
            customer, view = seen[event.customer.id]
            if view.erased:
                event = msgspec.structs.replace(event, attributes={})
            result = explain(event, customer, rules, moment, history=True, view=view)
            if result.invited:
                # As ingestion would: the file's later events see this invitation.
                customer.last_invited_at = moment
            lines.extend(describe(result))
    return lines
