"""Trigger rules: which events invite which customers to which survey, when, and for how long.

`decide` is pure: given an event, the customer's state and the rules, it says for every matching
trigger whether an invitation is scheduled and why not otherwise. The ingestion service runs it
inside the transaction that stores the event, so re-ingestion and concurrent duplicates decide the
same. The admin service for trigger rows is `listening.trigger_admin`; the journey file's
`[[triggers]]`, `listening.trigger_file`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from listening import schemas
from listening.uids import new_uid

DEFAULT_QUARANTINE_SECONDS = 30 * 86400
QUIET_START = time(21, 0)
QUIET_END = time(8, 0)
UTC = ZoneInfo("UTC")

# --- the rules as the decision needs them ----------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One active trigger, resolved to the survey it sends."""

    key: str
    event_type: str
    step_id: int
    step_key: str
    survey_id: int | None  # the step's active (latest) survey; None: nothing to send
    channel: str
    webhook_url: str | None
    sample_percent: float
    delay_seconds: int
    expires_after_seconds: int
    max_event_age_seconds: int
    quarantine_seconds: int | None
    reminder_after_seconds: int | None
    filters: dict[str, Any]
    # The durations as timedeltas, made once per batch rather than once per event.
    delay: timedelta = field(init=False)
    expires_after: timedelta = field(init=False)
    max_age: timedelta = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "delay", timedelta(seconds=self.delay_seconds))
        object.__setattr__(self, "expires_after", timedelta(seconds=self.expires_after_seconds))
        object.__setattr__(self, "max_age", timedelta(seconds=self.max_event_age_seconds))


@dataclass(frozen=True)
class Rules:
    """Every active trigger by event type, and the global contact-frequency rule."""

    by_type: dict[str, list[Rule]]
    quarantine_seconds: int = DEFAULT_QUARANTINE_SECONDS

    def send_email(self) -> bool:
        """Whether any trigger emails: suppressed addresses matter only then."""
        return any(r.channel == "email" for rules in self.by_type.values() for r in rules)


RULES_SQL = """
SELECT t.key, t.event_type, t.step, s.key, t.channel, t.webhook_url, t.sample_percent,
       t.delay_seconds, t.expires_after_seconds, t.max_event_age_seconds, t.quarantine_seconds,
       t.reminder_after_seconds, t.filters,
       (SELECT v.id FROM survey v WHERE v.step = t.step AND v.active
         ORDER BY v.version DESC LIMIT 1),
       (SELECT a.value FROM app_setting a WHERE a.key = 'quarantine_seconds')
FROM "trigger" t JOIN step s ON s.id = t.step
WHERE t.active
ORDER BY t.id
"""


def rules_from_rows(rows: list[tuple]) -> Rules:
    """Build the rules from the rows of RULES_SQL (each carries the stored global quarantine,
    which matters only when some trigger is active)."""
    quarantine = rows[0][14] if rows else None
    by_type: dict[str, list[Rule]] = {}
    for r in rows:
        filters = json.loads(r[12]) if isinstance(r[12], str) else (r[12] or {})
        rule = Rule(
            key=r[0],
            event_type=r[1],
            step_id=r[2],
            step_key=r[3],
            channel=r[4],
            webhook_url=r[5],
            sample_percent=float(r[6]),
            delay_seconds=r[7],
            expires_after_seconds=r[8],
            max_event_age_seconds=r[9],
            quarantine_seconds=r[10],
            reminder_after_seconds=r[11],
            filters=filters,
            survey_id=r[13],
        )
        by_type.setdefault(rule.event_type, []).append(rule)
    global_q = int(quarantine) if quarantine not in (None, "") else DEFAULT_QUARANTINE_SECONDS
    return Rules(by_type=by_type, quarantine_seconds=global_q)


@dataclass(slots=True)
class CustomerState:
    """What the rules need to know about a customer, updated as invitations are made."""

    id: int
    email: str | None
    time_zone: str | None
    locale: str | None
    opted_out_at: datetime | None
    last_invited_at: datetime | None
    suppressed: bool = False


@dataclass(slots=True)
class Decision:
    """One trigger's verdict on one event; `uid` is set when an invitation is scheduled."""

    rule: Rule
    status: str
    send_at: datetime | None = None
    expires_at: datetime | None = None
    remind_at: datetime | None = None
    uid: str | None = None

    def outcome(self) -> dict[str, Any]:
        """The stored form: what the API answers, plus the uid to rebuild the link."""
        out: dict[str, Any] = {
            "trigger": self.rule.key,
            "survey": self.rule.step_key,
            "status": self.status,
            "channel": self.rule.channel,
        }
        if self.send_at is not None:
            out["send_at"] = _isoformat(self.send_at)
        if self.uid is not None:
            out["uid"] = self.uid
        return out


@lru_cache(maxsize=4096)
def _isoformat(moment: datetime) -> str:
    # The events of a batch mostly share their send time; formatting it once is enough. In UTC,
    # since equal moments are equal keys here whatever their offsets.
    return moment.astimezone(UTC).isoformat()


# --- the pieces of a decision ----------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python, but a filter on `vip = true` must not match a count of 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def matches(filters: dict[str, Any], attributes: dict[str, Any]) -> bool:
    """Whether attributes pass every filter: a value (equals), a list (in), {"not": [...]}."""
    for name, condition in filters.items():
        present = name in attributes
        value = attributes.get(name)
        if isinstance(condition, dict):
            if "not" in condition:
                banned = condition["not"]
                banned = banned if isinstance(banned, list) else [banned]
                if present and any(_same(value, b) for b in banned):
                    return False
            if "in" in condition:
                allowed = condition["in"]
                allowed = allowed if isinstance(allowed, list) else [allowed]
                if not present or not any(_same(value, a) for a in allowed):
                    return False
        elif isinstance(condition, list):
            if not present or not any(_same(value, a) for a in condition):
                return False
        elif not present or not _same(value, condition):
            return False
    return True


def sample_point(event_id: str, trigger_key: str) -> float:
    """A number in [0, 100) fixed by the event id and the trigger, uniform over event ids."""
    digest = hashlib.sha256(f"{trigger_key}\x00{event_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def sampled_in(event_id: str, trigger_key: str, percent: float) -> bool:
    """Whether this event is in the trigger's sample; the same event always decides the same."""
    return percent >= 100 or sample_point(event_id, trigger_key) < percent


@cache
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def valid_time_zone(name: str) -> bool:
    """Whether an IANA time zone name is known."""
    return bool(name) and "\x00" not in name and _zone(name) is not None


@cache
def _single_zone_countries() -> dict[str, str]:
    # zone.tab lists every zone with its country; countries with one zone have an unambiguous one.
    zones: dict[str, list[str]] = {}
    for candidate in (Path("/usr/share/zoneinfo/zone.tab"),):
        try:
            lines = candidate.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("#") or not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) >= 3:
                zones.setdefault(parts[0], []).append(parts[2])
    return {country: names[0] for country, names in zones.items() if len(names) == 1}


def customer_zone(time_zone: str | None, locale: str | None) -> ZoneInfo:
    """The customer's time zone: the one given, else the locale's country's when it has one."""
    if time_zone and (zone := _zone(time_zone)):
        return zone
    if locale:
        match = re.match(r"^[A-Za-z]{2,3}[-_]([A-Za-z]{2})\b", locale)
        if match and (name := _single_zone_countries().get(match.group(1).upper())):
            return _zone(name) or UTC
    return UTC


def outside_quiet_hours(moment: datetime, zone: ZoneInfo) -> datetime:
    """The moment itself, or the next 08:00 in the zone when it falls between 21:00 and 08:00."""
    local = moment.astimezone(zone)
    if QUIET_END <= local.time() < QUIET_START:
        return moment
    day = local.date() if local.time() < QUIET_END else local.date() + timedelta(days=1)
    wake = datetime.combine(day, QUIET_END, tzinfo=zone)
    return wake.astimezone(moment.tzinfo or UTC)


def decide(
    event: schemas.EventIn,
    attributes: dict[str, Any],
    customer: CustomerState,
    rules: Rules,
    now: datetime,
    uid: str | None = None,
) -> list[Decision]:
    """Each matching trigger's verdict in rule order; scheduling marks the customer invited.

    `uid`, when given, goes to the first invitation scheduled (one the server precomputed
    with its token); any other gets a new one.
    """
    decisions = []
    for rule in rules.by_type.get(event.type, ()):
        if rule.survey_id is None or (rule.filters and not matches(rule.filters, attributes)):
            continue
        decision = _decide_one(event, attributes, customer, rule, rules, now)
        if decision.status == "scheduled":
            decision.uid, uid = uid or new_uid(), None
        decisions.append(decision)
    return decisions


def _decide_one(
    event: schemas.EventIn,
    attributes: dict[str, Any],
    customer: CustomerState,
    rule: Rule,
    rules: Rules,
    now: datetime,
) -> Decision:
    if event.occurred_at < now - rule.max_age:
        return Decision(rule, "stale")
    if customer.opted_out_at is not None:
        return Decision(rule, "opted_out")
    if rule.channel == "email" and customer.suppressed:
        return Decision(rule, "opted_out")
    if rule.channel == "email" and not customer.email:
        return Decision(rule, "undeliverable")
    if not sampled_in(event.id, rule.key, rule.sample_percent):
        return Decision(rule, "sampled_out")
    quarantine = (
        rule.quarantine_seconds if rule.quarantine_seconds is not None else rules.quarantine_seconds
    )
    last = customer.last_invited_at
    if last is not None and quarantine > 0 and last > now - timedelta(seconds=quarantine):
        return Decision(rule, "quarantined")
    send_at = max(now, event.occurred_at + rule.delay)
    if rule.channel == "email":
        zone = customer_zone(
            customer.time_zone or _text_attribute(attributes, "time_zone"), customer.locale
        )
        send_at = outside_quiet_hours(send_at, zone)
    expires_at = send_at + rule.expires_after
    remind_at = None
    if rule.reminder_after_seconds and rule.channel != "link":
        candidate = send_at + timedelta(seconds=rule.reminder_after_seconds)
        remind_at = candidate if candidate < expires_at else None
    customer.last_invited_at = now
    return Decision(rule, "scheduled", send_at, expires_at, remind_at)


def _text_attribute(attributes: dict[str, Any], name: str) -> str | None:
    value = attributes.get(name)
    return value if isinstance(value, str) else None


# --- durations and filters as people write them ----------------------------------------------
