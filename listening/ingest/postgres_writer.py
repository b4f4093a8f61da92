"""The batch transaction on PostgreSQL, in four round trips (five with an email trigger).

Stored ids are read first and the rest decided as new; if another process stores one of them
meanwhile, the write finds the conflict and the whole transaction is run again (then the id
reads as stored). Customers are locked in key order, so concurrent batches cannot deadlock.
"""

from __future__ import annotations

import json
from typing import Any

from listening.ingest.answers import Outcome, encode_text
from listening.ingest.batch import Batch
from listening.ingest.jobs import Work
from listening.ingest.planner import (
    CUSTOMER_COLUMNS,
    INVITATION_COLUMNS,
    StoredCustomer,
    emails_to_check,
    forget_erased,
    invitation_row,
    mark_suppressed,
    merge_customers,
    plan_batch,
    plan_customers,
    pseudonyms,
)
from listening.triggers import RULES_SQL, rules_from_rows


class RaceLost(Exception):
    """Another transaction stored one of the batch's event ids first; the batch is run again."""


# Stored events and live keys, in one round trip: ("e", source id, outcome) or ("k", key, NULL).
_PG_LOOK = (
    "SELECT 'e', source_id, outcome::text FROM event WHERE source_id = ANY($1::text[]) "
    "UNION ALL SELECT 'k', key_hash, NULL FROM api_key "
    "WHERE revoked_at IS NULL AND key_hash = ANY($2::text[])"
)

# Customers (and the erased rows of pseudonyms), locked in key order so a concurrent batch sees
# this one's invitations before applying the contact-frequency rule to the same customer.
_PG_CUSTOMERS = (
    f"SELECT {CUSTOMER_COLUMNS} "  # noqa: S608
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


async def apply_postgres(
    conn: Any, works: list[Work], secret_key: str
) -> list[list[Outcome] | str]:
    """Store a batch of works in the open transaction; each work's outcomes or UNAUTHORIZED."""
    batch = Batch(works)
    ids = list({e.id for w in works for e in w.decoded()})
    found = await conn.fetch(_PG_LOOK, ids, batch.key_hashes())
    batch.live_keys = {r[1] for r in found if r[0] == "k"}
    batch.collect()
    for kind, source_id, outcome in found:
        if kind == "e" and source_id in batch.first_occurrence:
            batch.stored_outcomes[source_id] = json.loads(outcome)
    new_ids = batch.new_ids()
    if not new_ids:
        return batch.results()
    rules = rules_from_rows([tuple(r) for r in await conn.fetch(RULES_SQL)])
    of_pseudonym = pseudonyms(batch, new_ids, secret_key)
    wanted = {batch.events[i].customer.id for i in new_ids} | set(of_pseudonym)
    stored = {r[1]: StoredCustomer(*r) for r in await conn.fetch(_PG_CUSTOMERS, sorted(wanted))}
    erased = {of_pseudonym[p] for p in stored if p in of_pseudonym}
    forget_erased(batch, new_ids, erased, secret_key)
    customers = plan_customers(merge_customers(batch.events[i] for i in new_ids), stored, None)
    emails = emails_to_check(customers)
    if emails and rules.send_email():
        suppressed = await conn.fetch(
            "SELECT email FROM suppression WHERE email = ANY($1::text[])", emails
        )
        mark_suppressed(customers, {r[0] for r in suppressed})
    plan = plan_batch(batch, new_ids, customers, rules, secret_key)
    fresh = sorted(plan.new_customers, key=lambda c: c.external_id)
    ordered = sorted(new_ids)
    # The event's and a new customer's ids are given out by the write itself.
    invitations = [
        (*invitation_row(i), i.source_id, i.customer.state.id, i.customer.external_id)
        for i in plan.invitations
    ]
    changed = [
        (
            c.state.id,
            c.state.email,
            c.name,
            c.state.locale,
            c.state.time_zone,
            c.state.last_invited_at,
        )
        for c in plan.changed_customers
    ]
    counts = await conn.fetchrow(
        _PG_WRITE,
        [c.external_id for c in fresh],
        [c.state.email for c in fresh],
        [c.name for c in fresh],
        [c.state.locale for c in fresh],
        [c.state.time_zone for c in fresh],
        [c.state.last_invited_at for c in fresh],
        batch.received_at[new_ids[0]],
        *_columns(changed, 6),
        ordered,
        [batch.events[i].type for i in ordered],
        [batch.events[i].occurred_at for i in ordered],
        [batch.received_at[i] for i in ordered],
        [batch.events[i].customer.id for i in ordered],
        [batch.attributes(i) for i in ordered],
        [encode_text(batch.new_outcomes[i]) for i in ordered],
        *_columns(invitations, 19),
    )
    if counts[0] != len(fresh):
        raise RaceLost(f"{len(fresh) - counts[0]} customers were stored meanwhile")
    if counts[1] != len(ordered):
        raise RaceLost(f"{len(ordered) - counts[1]} event ids were stored meanwhile")
    assert counts[2] == len(invitations), counts
    return batch.results()
