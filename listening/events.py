"""Event ingestion: validate, deduplicate by the source's id, store, apply the trigger rules.

Every event goes through one group-committing writer per process: the batch's transaction checks
the API keys, skips events already stored (answering their stored outcome), upserts customers,
runs `triggers.decide` and writes events, invitations and customer state together. A caller gets
its answer only after that transaction committed.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from listening.group_commit import GroupCommitter, PostgresWriter
from listening.schemas import CustomerIn, EventIn
from listening.tables import Event
from listening.triggers import (
    RULES_SQL,
    CustomerState,
    Decision,
    Rules,
    decide,
    new_uid,
    rules_from_rows,
    valid_time_zone,
)
from listening.writer_process import Ahead, WriterProcess
from surveys.clock import Clock, system_clock
from surveys.errors import DomainError, Invalid
from surveys.privacy import ERASED_PREFIX, pseudonym
from surveys.tokens import invitation_token, token_and_key

MAX_BATCH = 10_000
UNAUTHORIZED = "unauthorized"
_decoder = msgspec.json.Decoder(EventIn)
_packed_events = msgspec.msgpack.Decoder(list[EventIn])
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_encoder = msgspec.json.Encoder()
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$")


class TooMany(DomainError):
    """A batch of more than 10,000 events (413)."""

    status_code = 413


class BadJson(DomainError):
    """A body that is not JSON at all (400)."""

    status_code = 400


# --- validation ------------------------------------------------------------------------------


def _field_of(message: str) -> str:
    # msgspec says "... - at `$.customer.id`" or "Object missing required field `id` - at `$`".
    path = ""
    at = re.search(r"at `\$([^`]*)`", message)
    if at:
        path = re.sub(r"\[[^\]]*\]", "", at.group(1)).lstrip(".")
    missing = re.search(r"missing required field `([^`]+)`", message)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path or "body"


def _no_nul(value: str, name: str) -> None:
    if "\x00" in value:
        raise Invalid(f"{name} must not contain NUL characters", field=name)


def check_event(event: EventIn) -> EventIn:
    """The checks JSON types cannot express: time zones, NUL characters, email and locale."""
    if event.occurred_at.tzinfo is None:
        raise Invalid(
            "occurred_at needs a time zone (RFC 3339, e.g. Z or +02:00)", field="occurred_at"
        )
    _no_nul(event.id, "id")
    _no_nul(event.type, "type")
    customer = event.customer
    _no_nul(customer.id, "customer.id")
    if customer.email is not None:
        _no_nul(customer.email, "customer.email")
        local, at, domain = customer.email.rpartition("@")
        if not at or not local or "." not in domain or re.search(r"\s", customer.email):
            raise Invalid("customer.email is not an email address", field="customer.email")
    if customer.name is not None:
        _no_nul(customer.name, "customer.name")
    if customer.locale is not None and not _LOCALE.match(customer.locale):
        raise Invalid("customer.locale must look like en or de-CH", field="customer.locale")
    if customer.time_zone is not None and not valid_time_zone(customer.time_zone):
        raise Invalid(
            "customer.time_zone must be an IANA zone such as Europe/Berlin",
            field="customer.time_zone",
        )
    for key, value in event.attributes.items():
        _no_nul(key, "attributes")
        if isinstance(value, str):
            if len(value) > 1000:
                raise Invalid(
                    f"attributes.{key} is longer than 1000 characters", field=f"attributes.{key}"
                )
            _no_nul(value, f"attributes.{key}")
    return event


def parse_event(raw: bytes | str) -> EventIn:
    """Decode and check one event; Invalid (422) or BadJson (400) naming the field."""
    try:
        return check_event(_decoder.decode(raw))
    except msgspec.ValidationError as exc:
        message = str(exc)
        raise Invalid(message, field=_field_of(message)) from None
    except msgspec.DecodeError as exc:
        raise BadJson(f"body is not valid JSON: {exc}", field="body") from None
    except (UnicodeDecodeError, RecursionError):
        raise BadJson("body is not valid UTF-8 JSON", field="body") from None


def split_batch(body: bytes, content_type: str) -> list[bytes]:
    """The raw events of a batch body: a JSON array, or NDJSON (one event a line)."""
    if "ndjson" in content_type or "jsonlines" in content_type:
        lines = [line for line in body.splitlines() if line.strip()]
    else:
        try:
            lines = _raw_list.decode(body)
        except msgspec.ValidationError:
            raise Invalid("the body must be a JSON array of events", field="body") from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise BadJson(f"body is not valid JSON: {exc}", field="body") from None
    if len(lines) > MAX_BATCH:
        raise TooMany(
            f"a batch holds at most {MAX_BATCH} events, this one has {len(lines)}", field="body"
        )
    return lines


# --- the outcome and its answer ----------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """What ingesting one event did: `invitations` as stored in Event.outcome."""

    event_id: str
    duplicate: bool
    invitations: list[dict[str, Any]]
    tokens: dict[str, str] = field(default_factory=dict)  # uid -> token, for fresh invitations


def survey_url(base_url: str, secret_key: str, uid: str) -> str:
    """The public link of an invitation."""
    return f"{base_url.rstrip('/')}/s/{invitation_token(secret_key, uid)}"


def answer(
    outcome: Outcome, *, base_url: str, secret_key: str, known: dict[str, str] | None = None
) -> dict[str, Any]:
    """The JSON answer for an outcome; only link-channel invitations show their URL.

    `known` holds tokens the caller made itself (uid -> token), as `prepare` does."""
    invitations = []
    for item in outcome.invitations:
        shown: dict[str, Any] = {
            "trigger": item["trigger"],
            "survey": item["survey"],
            "status": item["status"],
            "send_at": item.get("send_at"),
        }
        uid = item.get("uid")
        if item.get("channel") == "link" and uid:
            token = (
                outcome.tokens.get(uid)
                or (known and known.get(uid))
                or invitation_token(secret_key, uid)
            )
            shown["survey_url"] = f"{base_url.rstrip('/')}/s/{token}"
        invitations.append(shown)
    return {
        "event_id": outcome.event_id,
        "duplicate": outcome.duplicate,
        "invitations": invitations,
    }


def encode(value: Any) -> bytes:
    """JSON bytes of an answer."""
    return _encoder.encode(value)


# --- the batch transaction -------------------------------------------------------------------


@dataclass
class Work:
    """One caller's events; `key_hash` None means a trusted caller (the CLI); `ahead`, what
    `prepare` made for them, if anything. In the writer process the events arrive as msgpack
    (`packed`, with `events` None) and are decoded only where the transaction needs them."""

    events: list[EventIn] | None
    now: datetime
    key_hash: str | None = None
    ahead: Ahead | None = None
    packed: msgspec.Raw | None = None

    def decoded(self) -> list[EventIn]:
        """The events, decoded on first use."""
        if self.events is None:
            assert self.packed is not None
            self.events = _packed_events.decode(self.packed)
        return self.events

    def ids(self) -> list[str]:
        """The events' ids."""
        return [e.id for e in self.decoded()]


@dataclass
class Prepared:
    """What `prepare` made: the `ahead` to send, and the tokens of its uids (uid -> token)."""

    ahead: Ahead
    tokens: dict[str, str]


def prepare(events: list[EventIn], secret_key: str) -> Prepared:
    """What can be made for new events before their transaction: attributes as JSON, and a
    uid with its look-up key each (for the invitation most events get); and each uid's token.
    """
    uids = [new_uid() for _ in events]
    pairs = [token_and_key(secret_key, uid) for uid in uids]
    ahead = Ahead(
        [_encoder.encode(e.attributes).decode() for e in events], uids, [p[1] for p in pairs]
    )
    return Prepared(ahead, {uid: pair[0] for uid, pair in zip(uids, pairs, strict=True)})


@dataclass
class _Batch:
    """The events of a batch, deduplicated, with what the transaction learns about them."""

    works: list[Work]
    live_keys: set[str] = field(default_factory=set)
    origin: dict[str, tuple[Work, int]] = field(default_factory=dict)  # first occurrence
    repeated: set[str] = field(default_factory=set)  # ids met more than once
    first: dict[str, EventIn] = field(default_factory=dict)  # the decoded first occurrences
    now_of: dict[str, datetime] = field(default_factory=dict)
    stored: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # seen before
    made: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # stored now
    tokens: dict[str, str] = field(default_factory=dict)  # uid -> token of invitations made now
    # source id -> (attributes JSON, uid, look-up key) made ahead by `prepare`
    ahead: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def attributes(self, source_id: str) -> str:
        """A new event's attributes as JSON, as stored with the event and its invitations."""
        made = self.ahead.get(source_id)
        if made is not None:
            return made[0]
        return _encoder.encode(self.first[source_id].attributes).decode()

    def key_of(self, source_id: str, decision: Decision, secret_key: str) -> str:
        """The stored look-up key of a scheduled invitation: the one made ahead when the
        decision has its uid (the caller kept that token), else made now, its token kept for
        the answer."""
        assert decision.uid is not None
        made = self.ahead.get(source_id)
        if made is not None and made[1] == decision.uid:
            return made[2]
        self.tokens[decision.uid], key = token_and_key(secret_key, decision.uid)
        return key

    def authorized(self, work: Work) -> bool:
        return work.key_hash is None or work.key_hash in self.live_keys

    def collect(self) -> None:
        """Keep the first occurrence of every id among authorized works."""
        for work in self.works:
            if not self.authorized(work):
                continue
            ahead = work.ahead
            for n, source_id in enumerate(work.ids()):
                if source_id in self.origin:
                    self.repeated.add(source_id)
                    continue
                self.origin[source_id] = (work, n)
                self.now_of[source_id] = work.now
                if ahead is not None:
                    self.ahead[source_id] = (ahead.attributes[n], ahead.uids[n], ahead.keys[n])

    def load(self, ids: Iterable[str]) -> None:
        """Decode the first occurrences of `ids` into `first`."""
        for source_id in ids:
            if source_id not in self.first:
                work, n = self.origin[source_id]
                self.first[source_id] = work.decoded()[n]

    def results(self) -> list[list[Outcome] | str]:
        """Each work's outcomes in order; later copies of an id are duplicates of the first."""
        out: list[list[Outcome] | str] = []
        answered: set[str] = set()
        for work in self.works:
            if not self.authorized(work):
                out.append(UNAUTHORIZED)
                continue
            outcomes: list[Outcome] = []
            for source_id in work.ids():
                if source_id in self.made and source_id not in answered:
                    answered.add(source_id)
                    made = self.made[source_id]
                    # Tokens made here; those made ahead stay with the caller.
                    tokens = (
                        {u: self.tokens[u] for i in made if (u := i.get("uid")) in self.tokens}
                        if self.tokens
                        else {}
                    )
                    outcomes.append(Outcome(source_id, False, made, tokens))
                else:
                    invitations = self.made.get(source_id, self.stored.get(source_id, []))
                    outcomes.append(Outcome(source_id, True, invitations))
            out.append(outcomes)
        return out


def _pseudonyms(batch: _Batch, new_ids: list[str], secret_key: str) -> dict[str, str]:
    """The erased-customer pseudonym of every customer id among the new events."""
    return {
        pseudonym(batch.first[i].customer.id, secret_key): batch.first[i].customer.id
        for i in new_ids
    }


def _forget_erased(batch: _Batch, new_ids: list[str], erased: set[str], secret_key: str) -> None:
    """Point new events of erased customers at their pseudonymous row, with nothing personal.

    The erased row keeps its opt-out, so the rules answer `opted_out`, and neither the contact
    details nor the attributes of the new event are stored again.
    """
    for i in new_ids:
        event = batch.first[i]
        if event.customer.id in erased:
            batch.ahead.pop(i, None)  # made with the attributes that are not stored
            batch.first[i] = msgspec.structs.replace(
                event,
                customer=CustomerIn(id=pseudonym(event.customer.id, secret_key)),
                attributes={},
            )


def _customer_state(customer_id: int, fields: dict[str, Any], row: Any) -> CustomerState:
    """A customer as the rules see it: the event's fields over the stored row, if any.

    `row` is (id, external_id, email, time_zone, locale, opted_out_at, last_invited_at, ...).
    """
    if row is None:
        return CustomerState(
            customer_id, fields["email"], fields["time_zone"], fields["locale"], None, None
        )
    return CustomerState(
        customer_id,
        fields["email"] or row[2],
        fields["time_zone"] or row[3],
        fields["locale"] or row[4],
        row[5],
        row[6],
    )


def _fields(c: CustomerIn) -> dict[str, Any]:
    return {"email": c.email, "name": c.name, "locale": c.locale, "time_zone": c.time_zone}


def _new_customer_row(
    external_id: str, c: CustomerState, name: str | None, created: str, when: Any
) -> list:
    """A new customer's row without its id: (external_id, email, name, locale, time_zone,
    last_invited_at, created_at), as CUSTOMER_INSERT takes it after the id."""
    return [external_id, c.email, name, c.locale, c.time_zone, when(c.last_invited_at), created]


CUSTOMER_INSERT = (
    "INSERT INTO customer (id, external_id, email, name, locale, time_zone, last_invited_at, "
    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
EVENT_INSERT = (
    "INSERT INTO event (id, source_id, type, occurred_at, received_at, customer_external_id, "
    "attributes, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _merged_customers(events: Iterable[EventIn]) -> dict[str, dict[str, Any]]:
    # Several events of one customer in a batch: later non-empty fields win, as one by one.
    merged: dict[str, dict[str, Any]] = {}
    for event in events:
        c = event.customer
        row = merged.get(c.id)
        if row is None:
            merged[c.id] = _fields(c)
            continue
        for name in row:
            value = getattr(c, name)
            if value is not None:
                row[name] = value
    return merged


def _same_time(moment: Any) -> Any:
    return moment


def _invitation_row(
    d: Decision,
    customer: CustomerState,
    attributes: str,
    now: Any,
    lookup_key: str,
    when: Any = _same_time,
) -> list:
    """A scheduled invitation's row without the ids of its event and customer, which follow
    last in INVITATION_COLUMNS."""
    assert d.uid is not None and d.send_at is not None and d.expires_at is not None
    link = d.rule.channel == "link"
    send_at = when(d.send_at)
    return [
        d.uid,
        lookup_key,
        d.rule.key,
        d.rule.survey_id,
        d.rule.step_id,
        d.rule.channel,
        "sent" if link else "scheduled",  # a link is handed over in the answer itself
        customer.locale,
        attributes,
        now,
        send_at,
        when(d.expires_at),
        now if link else None,
        when(d.remind_at),
        send_at,
        d.rule.webhook_url,
    ]


INVITATION_COLUMNS = (
    "uid, token_hash, trigger_key, survey, step, channel, status, locale, attributes, "
    "created_at, send_at, expires_at, sent_at, remind_at, next_attempt_at, webhook_url, "
    "event_id, customer"
)
INVITATION_INSERT = (
    f"INSERT INTO invitation ({INVITATION_COLUMNS}) "  # noqa: S608
    f"VALUES ({','.join('?' * (INVITATION_COLUMNS.count(',') + 1))})"
)


def _decide_all(
    batch: _Batch, new_ids: list[str], customers: dict[str, CustomerState], rules: Rules
) -> dict[str, list[Decision]]:
    decisions = {}
    first, now_of, ahead, made = batch.first, batch.now_of, batch.ahead, batch.made
    for source_id in new_ids:
        event = first[source_id]
        prepared = ahead.get(source_id)
        verdicts = decisions[source_id] = decide(
            event,
            event.attributes,
            customers[event.customer.id],
            rules,
            now_of[source_id],
            prepared and prepared[1],
        )
        made[source_id] = [d.outcome() for d in verdicts]
    return decisions


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class _SqliteTimes(dict):
    """Timestamps in the form Piccolo's SQLite adapter stores (UTC, str()), each made once.

    Most events of a batch share their received, send and expiry times, and str() of a
    datetime costs more than the insert of the row it goes into. Called for a moment (or None);
    a dictionary look-up once the moment was seen.
    """

    __call__ = dict.__getitem__

    def __init__(self) -> None:
        super().__init__({None: None})

    def __missing__(self, moment: datetime) -> str:
        text = self[moment] = str(moment.astimezone(UTC))
        return text


def _select_in(conn: sqlite3.Connection, sql: str, values: list) -> Iterator[tuple]:
    for chunk in _chunks(values):
        yield from conn.execute(sql.format(",".join("?" * len(chunk))), chunk)


# Erased customers' ids all start with ERASED_PREFIX ("erased:"); ";" follows ":" in ASCII.
_ANY_ERASED = "SELECT 1 FROM customer WHERE external_id >= ? AND external_id < ? LIMIT 1"


@dataclass
class RulesCache:
    """The writer's rules: read in every transaction, rebuilt only when their rows changed."""

    rows: list[tuple] = field(default_factory=list)
    rules: Rules = field(default_factory=lambda: rules_from_rows([]))

    def read(self, conn: sqlite3.Connection) -> Rules:
        """The rules as stored now."""
        rows = conn.execute(RULES_SQL).fetchall()
        if rows != self.rows:
            self.rows, self.rules = rows, rules_from_rows(rows)
        return self.rules


def apply_sqlite(
    conn: sqlite3.Connection,
    works: list[Work],
    secret_key: str,
    known: RulesCache | None = None,
) -> list:
    """The batch transaction on SQLite (runs in the writer process, inside BEGIN IMMEDIATE).

    The immediate transaction holds SQLite's write lock, so nothing else inserts meanwhile:
    new rows get their ids here (max + 1), and every write is one `executemany`.
    """
    batch = _Batch(works)
    _sqlite_time = _SqliteTimes()
    hashes = list({w.key_hash for w in works if w.key_hash})
    if hashes:
        batch.live_keys = {
            r[0]
            for r in _select_in(
                conn,
                "SELECT key_hash FROM api_key WHERE revoked_at IS NULL AND key_hash IN ({})",
                hashes,
            )
        }
    batch.collect()
    if not batch.origin:
        return batch.results()
    for source_id, outcome in _select_in(
        conn, "SELECT source_id, outcome FROM event WHERE source_id IN ({})", list(batch.origin)
    ):
        batch.stored[source_id] = json.loads(outcome)
    new_ids = [i for i in batch.origin if i not in batch.stored]
    if not new_ids:
        return batch.results()
    rules = (known or RulesCache()).read(conn)
    batch.load(new_ids)
    next_customer = (conn.execute("SELECT max(id) FROM customer").fetchone()[0] or 0) + 1
    next_event = (conn.execute("SELECT max(id) FROM event").fetchone()[0] or 0) + 1
    event_rows: list[Any] = []
    fresh: list[Any] = []
    changed: list[Any] = []
    invitations: list[Any] = []
    _decide_here(
        conn,
        batch,
        new_ids,
        rules,
        secret_key,
        _sqlite_time,
        (next_customer, next_event),
        (event_rows, fresh, changed, invitations),
    )
    conn.executemany(EVENT_INSERT, event_rows)
    conn.executemany(CUSTOMER_INSERT, fresh)
    conn.executemany(
        "UPDATE customer SET email = ?, name = ?, locale = ?, time_zone = ?, last_invited_at = ? "
        "WHERE id = ?",
        changed,
    )
    if invitations:
        conn.executemany(INVITATION_INSERT, invitations)
    return batch.results()


def _decide_here(
    conn: sqlite3.Connection,
    batch: _Batch,
    new_ids: list[str],
    rules: Rules,
    secret_key: str,
    _sqlite_time: _SqliteTimes,
    ids: tuple[int, int],
    out: tuple[list, list, list, list],
) -> tuple[int, int]:
    """Decide `new_ids` in the transaction, adding their rows to `out` (events, new customers,
    changed customers, invitations); the next free customer and event ids."""
    next_customer, next_event = ids
    event_rows, fresh, changed, invitations = out
    # Most databases hold no erased customer: one index probe spares a keyed hash per event.
    if conn.execute(_ANY_ERASED, (ERASED_PREFIX, ERASED_PREFIX[:-1] + ";")).fetchone():
        pseudonyms = _pseudonyms(batch, new_ids, secret_key)
        erased = _select_in(
            conn, "SELECT external_id FROM customer WHERE external_id IN ({})", list(pseudonyms)
        )
        _forget_erased(batch, new_ids, {pseudonyms[r[0]] for r in erased}, secret_key)
    merged = _merged_customers(batch.first[i] for i in new_ids)
    customers: dict[str, CustomerState] = {}
    existing: dict[str, tuple] = {}
    for row in _select_in(
        conn,
        "SELECT id, external_id, email, time_zone, locale, opted_out_at, last_invited_at, name "
        "FROM customer WHERE external_id IN ({})",
        list(merged),
    ):
        existing[row[1]] = row
    for ext, fields in merged.items():
        row = existing.get(ext)
        if row is None:
            customers[ext] = _customer_state(next_customer, fields, None)
            next_customer += 1
        else:
            customers[ext] = _customer_state(row[0], fields, row)
    if rules.send_email():
        emails = list({c.email.lower() for c in customers.values() if c.email})
        found = _select_in(conn, "SELECT email FROM suppression WHERE email IN ({})", emails)
        suppressed = {r[0] for r in found}
        for c in customers.values():
            c.suppressed = bool(c.email) and c.email.lower() in suppressed
    decisions = _decide_all(batch, new_ids, customers, rules)
    for source_id in new_ids:
        event = batch.first[source_id]
        now = _sqlite_time(batch.now_of[source_id])
        attributes = batch.attributes(source_id)
        event_rows.append(
            (
                next_event,
                source_id,
                event.type,
                _sqlite_time(event.occurred_at),
                now,
                event.customer.id,
                attributes,
                _encoder.encode(batch.made[source_id]).decode(),
            )
        )
        customer = customers[event.customer.id]
        for d in decisions[source_id]:
            if d.status == "scheduled":
                key = batch.key_of(source_id, d, secret_key)
                row = _invitation_row(d, customer, attributes, now, key, _sqlite_time)
                invitations.append((*row, next_event, customer.id))
        next_event += 1
    first_now = _sqlite_time(batch.now_of[new_ids[0]])
    fresh.extend(
        (c.id, *_new_customer_row(ext, c, merged[ext]["name"], first_now, _sqlite_time))
        for ext, c in customers.items()
        if ext not in existing
    )
    for ext, row in existing.items():
        c, fields = customers[ext], merged[ext]
        new_name = fields["name"] or row[7]
        if (c.email, c.time_zone, c.locale, c.last_invited_at, new_name) != (
            row[2],
            row[3],
            row[4],
            row[6],
            row[7],
        ):
            changed.append(
                (c.email, new_name, c.locale, c.time_zone, _sqlite_time(c.last_invited_at), c.id)
            )
    return next_customer, next_event


class RaceLost(Exception):
    """Another transaction stored one of the batch's event ids first; the batch is run again."""


# Known events and live keys, in one round trip: ("e", source id, outcome) or ("k", key, NULL).
_PG_LOOK = (
    "SELECT 'e', source_id, outcome::text FROM event WHERE source_id = ANY($1::text[]) "
    "UNION ALL SELECT 'k', key_hash, NULL FROM api_key "
    "WHERE revoked_at IS NULL AND key_hash = ANY($2::text[])"
)

# Customers (and the erased rows of pseudonyms), locked in key order so a concurrent batch sees
# this one's invitations before applying the contact-frequency rule to the same customer.
_PG_CUSTOMERS = (
    "SELECT id, external_id, email, time_zone, locale, opted_out_at, last_invited_at, name "
    "FROM customer WHERE external_id = ANY($1::text[]) ORDER BY external_id FOR UPDATE"
)

# Every write of the batch in one statement: new customers, changed customers, events, and
# invitations joined to the ids the first and third give out. The counts tell a lost race.
_PG_WRITE = f"""
WITH fresh AS (
  INSERT INTO customer (external_id, email, name, locale, time_zone, last_invited_at, created_at)
  SELECT k, e, n, l, z, i, $7 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
    $5::text[], $6::timestamptz[]) AS u(k, e, n, l, z, i)
  ON CONFLICT (external_id) DO NOTHING RETURNING id, external_id
), changed AS (
  UPDATE customer SET email = u.e, name = u.n, locale = u.l, time_zone = u.z, last_invited_at = u.i
  FROM unnest($8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[],
    $13::timestamptz[]) AS u(c, e, n, l, z, i)
  WHERE customer.id = u.c
), stored AS (
  INSERT INTO event (source_id, type, occurred_at, received_at, customer_external_id,
    attributes, outcome)
  SELECT s, t, o, r, c, a::json, x::json FROM unnest($14::text[], $15::text[],
    $16::timestamptz[], $17::timestamptz[], $18::text[], $19::text[], $20::text[])
    AS u(s, t, o, r, c, a, x)
  ON CONFLICT (source_id) DO NOTHING RETURNING id, source_id
), invited AS (
  INSERT INTO invitation ({INVITATION_COLUMNS})
  SELECT u.uid, u.hash, u.trig, u.survey, u.step, u.channel, u.status, u.locale,
    u.attrs::json, u.created, u.send_at, u.expires, u.sent, u.remind, u.next, u.hook, stored.id,
    coalesce(fresh.id, u.cust)
  FROM unnest($21::text[], $22::text[], $23::text[], $24::int[], $25::int[], $26::text[],
    $27::text[], $28::text[], $29::text[], $30::timestamptz[], $31::timestamptz[],
    $32::timestamptz[], $33::timestamptz[], $34::timestamptz[], $35::timestamptz[],
    $36::text[], $37::text[], $38::int[], $39::text[])
    AS u(uid, hash, trig, survey, step, channel, status, locale, attrs, created, send_at,
      expires, sent, remind, next, hook, source, cust, ext)
  JOIN stored ON stored.source_id = u.source
  LEFT JOIN fresh ON fresh.external_id = u.ext
  RETURNING 1
)
SELECT (SELECT count(*) FROM fresh), (SELECT count(*) FROM stored),
  (SELECT count(*) FROM invited)
"""  # noqa: S608


def _columns(rows: list[tuple], width: int) -> list[list]:
    """Rows as columns, for unnest; `width` empty columns when there are no rows."""
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


async def apply_postgres(conn: Any, works: list[Work], secret_key: str) -> list:
    """The batch transaction on PostgreSQL, in four round trips (five with an email trigger).

    Known ids are read first and the rest decided as new; if another process stores one of them
    meanwhile, the write finds the conflict and the whole transaction is run again (then the id
    reads as known). Customers are locked in key order, so concurrent batches cannot deadlock.
    """
    batch = _Batch(works)
    hashes = list({w.key_hash for w in works if w.key_hash})
    ids = list({e.id for w in works for e in w.decoded()})
    known = await conn.fetch(_PG_LOOK, ids, hashes)
    batch.live_keys = {r[1] for r in known if r[0] == "k"}
    batch.collect()
    for kind, source_id, outcome in known:
        if kind == "e" and source_id in batch.origin:
            batch.stored[source_id] = json.loads(outcome)
    new_ids = [i for i in batch.origin if i not in batch.stored]  # arrival order, for the rules
    if not new_ids:
        return batch.results()
    batch.load(new_ids)
    rules = rules_from_rows([tuple(r) for r in await conn.fetch(RULES_SQL)])
    pseudonyms = _pseudonyms(batch, new_ids, secret_key)
    wanted = {batch.first[i].customer.id for i in new_ids} | set(pseudonyms)
    existing = {r[1]: r for r in await conn.fetch(_PG_CUSTOMERS, sorted(wanted))}
    _forget_erased(batch, new_ids, {pseudonyms[p] for p in existing if p in pseudonyms}, secret_key)
    merged = _merged_customers(batch.first[i] for i in new_ids)
    customers: dict[str, CustomerState] = {}
    for ext, fields in merged.items():
        row = existing.get(ext)
        customers[ext] = _customer_state(0 if row is None else row[0], fields, row)
    emails = list({c.email.lower() for c in customers.values() if c.email})
    if emails and rules.send_email():
        suppressed = {
            r[0]
            for r in await conn.fetch(
                "SELECT email FROM suppression WHERE email = ANY($1::text[])", emails
            )
        }
        for c in customers.values():
            c.suppressed = bool(c.email) and c.email.lower() in suppressed
    decisions = _decide_all(batch, new_ids, customers, rules)
    fresh = sorted(k for k in merged if k not in existing)
    changed = []
    for ext in merged:
        row = existing.get(ext)
        if row is None:
            continue
        c, name = customers[ext], merged[ext]["name"] or row[7]
        if (c.email, c.time_zone, c.locale, c.last_invited_at, name) != (
            row[2],
            row[3],
            row[4],
            row[6],
            row[7],
        ):
            changed.append((c.id, c.email, name, c.locale, c.time_zone, c.last_invited_at))
    ordered = sorted(new_ids)
    invitations = []
    for source_id in new_ids:
        event = batch.first[source_id]
        customer = customers[event.customer.id]
        attributes = batch.attributes(source_id)
        for d in decisions[source_id]:
            if d.status == "scheduled":
                row = _invitation_row(
                    d,
                    customer,
                    attributes,
                    batch.now_of[source_id],
                    batch.key_of(source_id, d, secret_key),
                )
                # The event's and a new customer's ids are given out by the write itself.
                invitations.append((*row, source_id, customer.id, event.customer.id))
    counts = await conn.fetchrow(
        _PG_WRITE,
        fresh,
        [customers[k].email for k in fresh],
        [merged[k]["name"] for k in fresh],
        [customers[k].locale for k in fresh],
        [customers[k].time_zone for k in fresh],
        [customers[k].last_invited_at for k in fresh],
        batch.now_of[new_ids[0]],
        *_columns(changed, 6),
        ordered,
        [batch.first[i].type for i in ordered],
        [batch.first[i].occurred_at for i in ordered],
        [batch.now_of[i] for i in ordered],
        [batch.first[i].customer.id for i in ordered],
        [batch.attributes(i) for i in ordered],
        [_encoder.encode(batch.made[i]).decode() for i in ordered],
        *_columns(invitations, 19),
    )
    if counts[0] != len(fresh):
        raise RaceLost(f"{len(fresh) - counts[0]} customers were stored meanwhile")
    if counts[1] != len(ordered):
        raise RaceLost(f"{len(ordered) - counts[1]} event ids were stored meanwhile")
    assert counts[2] == len(invitations), counts
    return batch.results()


# --- the per-process ingestor ----------------------------------------------------------------


def _outcomes(result: Any) -> list[Outcome] | str:
    """A writer process's answer (outcomes as maps, or UNAUTHORIZED) as `Ingestor.enqueue`
    gets it."""
    if isinstance(result, str):
        return result
    return [Outcome(**o) for o in result]


PREPARE_FROM = 100  # events in a job


class Ingestor:
    """The process's writer for events: group commit in a writer process (SQLite) or on
    connections of its own (PostgreSQL)."""

    def __init__(self, secret_key: str) -> None:
        engine = Event._meta.db
        self.secret_key = secret_key
        self._sqlite: WriterProcess | None = None
        self._committer: GroupCommitter[Work, Any] | None = None
        self._postgres: PostgresWriter | None = None
        if engine.engine_type == "sqlite":
            self._sqlite = WriterProcess(engine.path, secret_key, _outcomes)
        else:
            pg = self._postgres = PostgresWriter(engine, retry_on=(RaceLost,))

            async def apply(works: list[Work]) -> list:
                return await pg.run(lambda conn: apply_postgres(conn, works, secret_key))

            # One batch at a time per server process: with a backend per batch in flight, the
            # backends of all server processes compete for the same cores, and each event
            # costs PostgreSQL more (measured: 2,800 events/s with one, 2,200 with three).
            self._committer = GroupCommitter(
                apply, weight=lambda w: max(1, len(w.events)), max_weight=2000, concurrency=1
            )

    def ahead(self, events: list[EventIn], now: datetime) -> Prepared | None:
        """`prepare` for a large job whose writer is the SQLite process, else nothing.

        There the writer bounds batch ingestion while this process waits for it; a single
        event's request is this process's bottleneck instead, and PostgreSQL's writer is not
        the bound.
        """
        if self._sqlite is None or len(events) < PREPARE_FROM:
            return None
        return prepare(events, self.secret_key)

    async def ready(self) -> None:
        """Start what `enqueue` needs (the SQLite writer process) unless it runs."""
        if self._sqlite is not None:
            await self._sqlite.ready()

    async def submit(self, work: Work) -> list[Outcome] | str:
        """Store a caller's events; their outcomes, or UNAUTHORIZED for a dead key."""
        await self.ready()
        return await self.enqueue(work)

    def enqueue(self, work: Work, prepared: Prepared | None = None) -> asyncio.Future:
        """Queue a caller's events now (after `ready`), with what `ahead` made for them; the
        future holds what `submit` returns."""
        if self._sqlite is None:
            assert self._committer is not None
            return self._committer.enqueue(work)
        if prepared is not None:
            work.ahead = prepared.ahead
        return self._sqlite.enqueue(work.decoded(), work.now, work.key_hash, work.ahead)

    async def close(self) -> None:
        """Commit what is queued, then stop the writer."""
        if self._sqlite is not None:
            await self._sqlite.close()
        if self._committer is not None:
            await self._committer.close()
        if self._postgres is not None:
            await self._postgres.close()


_ingestors: dict[tuple[int, str], Ingestor] = {}


def ingestor(secret_key: str) -> Ingestor:
    """The process's ingestor for the configured database (created on first use)."""
    key = (id(Event._meta.db), secret_key)
    found = _ingestors.get(key)
    if found is None:
        found = _ingestors[key] = Ingestor(secret_key)
    return found


async def close_ingestors() -> None:
    """Stop every writer of this process (at shutdown)."""
    while _ingestors:
        _, found = _ingestors.popitem()
        await found.close()


async def ingest_events(
    events: list[EventIn],
    *,
    secret_key: str,
    clock: Clock = system_clock,
    key_hash: str | None = None,
) -> list[Outcome] | str:
    """Ingest checked events as one unit of work; the service behind the API and the CLI."""
    work = Work(events=[check_event(e) for e in events], now=clock(), key_hash=key_hash)
    return await ingestor(secret_key).submit(work)


BATCH_CHUNK = 2000
FIRST_CHUNK = 400  # smaller, so the writer starts while the rest of the batch is parsed


def _rejected(exc: DomainError, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "status_code": exc.status_code,
        "detail": exc.message,
        "field": exc.field,
    }


async def ingest_batch(
    raws: list[bytes],
    *,
    secret_key: str,
    now: datetime,
    key_hash: str | None,
    base_url: str,
) -> dict[str, Any] | str:
    """A batch's answer: counts and one result per event, in order; UNAUTHORIZED for a dead key.

    Events go to the writer a chunk at a time as they are checked, so the writer stores one
    chunk while the next is parsed, and each chunk's answers are written while the writer stores
    the next. A later copy of an id answers as a duplicate of the first, within a chunk or not.
    """
    writer = ingestor(secret_key)
    await writer.ready()
    slots: list[dict[str, Any] | tuple[int, int]] = []
    pending: list[asyncio.Future] = []
    known: dict[str, str] = {}  # uid -> token of the invitations prepared here

    async def send(chunk: list[EventIn]) -> None:
        made = writer.ahead(chunk, now)
        if made is not None:
            known.update(made.tokens)
        pending.append(writer.enqueue(Work(chunk, now, key_hash), made))
        # Let the loop send the chunk on (and serve other requests) before parsing the next.
        await asyncio.sleep(0)

    chunk: list[EventIn] = []
    for index, raw in enumerate(raws):
        try:
            chunk.append(parse_event(raw))
            slots.append((len(pending), len(chunk) - 1))
        except DomainError as exc:
            slots.append(_rejected(exc, index))
        if len(chunk) == (BATCH_CHUNK if pending else FIRST_CHUNK):
            await send(chunk)
            chunk = []
    if chunk:
        await send(chunk)
    results: list[dict[str, Any]] = []
    counts = {"accepted": 0, "duplicates": 0, "rejected": 0}
    index = 0
    for number, waiting in enumerate(pending):
        try:
            outcomes = await waiting
        except BaseException:
            # Collect the other chunks' answers too, so no failure goes unheard.
            await asyncio.gather(*pending[number + 1 :], return_exceptions=True)
            raise
        if outcomes == UNAUTHORIZED:
            await asyncio.gather(*pending[number + 1 :], return_exceptions=True)
            return UNAUTHORIZED
        while index < len(slots):
            slot = slots[index]
            if isinstance(slot, tuple):
                if slot[0] != number:
                    break
                outcome = outcomes[slot[1]]
                counts["duplicates" if outcome.duplicate else "accepted"] += 1
                shown = answer(outcome, base_url=base_url, secret_key=secret_key, known=known)
                slot = {"index": index, "status_code": 200 if outcome.duplicate else 202, **shown}
            else:
                counts["rejected"] += 1
            results.append(slot)
            index += 1
    for slot in slots[index:]:  # rejected events after the last chunk
        counts["rejected"] += 1
        results.append(slot)  # type: ignore[arg-type]
    return {**counts, "results": results}


@asynccontextmanager
async def ingest_lifespan(app: Any) -> AsyncIterator[None]:
    """App lifespan: at shutdown, commit what is queued and close the writers."""
    try:
        yield
    finally:
        await close_ingestors()


@dataclass
class FileSummary:
    """What a bulk import did: counts of events and of trigger outcomes, and the first errors."""

    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


FILE_IN_FLIGHT = 2  # chunks sent to the writer and not yet answered, in a bulk import


async def ingest_file(
    path: Any,
    *,
    secret_key: str,
    clock: Clock = system_clock,
    chunk: int = 2000,
    progress: Any = None,
) -> FileSummary:
    """Import an NDJSON file of events with the API's rules and idempotency, chunk by chunk.

    `progress(n_bytes)` is called as the file is read. Bad lines are counted and the first few
    reported with their line number; the others are stored. Chunks are pipelined like a
    batch's: the writer stores one while the next is read and parsed.
    """
    summary = FileSummary()
    writer = ingestor(secret_key)
    await writer.ready()
    in_flight: deque[asyncio.Future] = deque()
    pending: list[EventIn] = []

    def count(result: list[Outcome] | str) -> None:
        assert result != UNAUTHORIZED  # a trusted caller: no key to check
        for outcome in result:
            if outcome.duplicate:
                summary.duplicates += 1
                continue
            summary.accepted += 1
            for item in outcome.invitations:
                summary.outcomes[item["status"]] = summary.outcomes.get(item["status"], 0) + 1

    async def settle(keep: int) -> None:
        while len(in_flight) > keep:
            try:
                count(await in_flight.popleft())
            except BaseException:
                await asyncio.gather(*in_flight, return_exceptions=True)
                raise

    async def send() -> None:
        now = clock()
        made = writer.ahead(pending, now)
        in_flight.append(writer.enqueue(Work(list(pending), now), made))
        pending.clear()
        await settle(FILE_IN_FLIGHT)

    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if progress is not None:
                progress(len(line))
            if not line.strip():
                continue
            summary.read += 1
            try:
                pending.append(parse_event(line))
            except DomainError as exc:
                summary.rejected += 1
                if len(summary.errors) < 20:
                    summary.errors.append(f"line {number}: {exc.field}: {exc.message}")
                continue
            if len(pending) >= chunk:
                await send()
    if pending:
        await send()
    await settle(0)
    return summary
