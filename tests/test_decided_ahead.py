"""Events decided ahead by the server (SQLite): the writer keeps a decision only where it holds.

The server decides each event of a large job as the first event of a new customer, with the
rules the writer last told it; the writer stores those rows only for events whose customer is
new and met once in the transaction, under the same rules, and decides the others itself.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import timedelta

from trigger_org import NOW, TRIGGERS, event, load_org

from listening.events import RulesCache, Work, _as_decided, apply_sqlite, prepare
from listening.group_commit import SqliteCommitter
from listening.tables import Event, Trigger

ENGINE = os.environ.get("LISTENING_TEST_ENGINE", "sqlite")

EMAIL_TRIGGER = """
[[triggers]]
key = "delivered-email"
event_type = "order.delivered"
step = "order-delivered"
channel = "email"
delay = "2h"
reminder_after = "2d"
filters = { tier = { not = ["internal"] } }
"""


def _rules() -> tuple[str, object]:
    known = RulesCache()
    with sqlite3.connect(Event._meta.db.path) as conn:
        known.read(conn)
    assert known.fingerprint is not None
    return known.fingerprint, known.rules


def _commit(secret_key: str, *works: Work) -> list:
    committer = SqliteCommitter(
        Event._meta.db.path, lambda conn, items: apply_sqlite(conn, items, secret_key)
    )
    try:
        outcomes = committer.commit(list(works))
    finally:
        committer.close()
    assert all(ok for ok, _ in outcomes), outcomes
    return [value for _, value in outcomes]


def _events(prefix: str, count: int) -> list:
    """Events of new customers in many shapes: filtered out, delayed into quiet hours, stale."""
    made = []
    for n in range(count):
        kind = n % 4
        made.append(
            event(
                f"{prefix}{n}",
                type="order.delivered" if kind else "ticket.closed",
                occurred_at=NOW - timedelta(days=9 if n % 7 == 0 else 0, hours=n % 13),
                email=f"c{n}@example.com" if kind != 3 else None,
                locale=("de-CH", "en", None)[n % 3],
                attributes={"tier": "internal" if n % 5 == 0 else "gold", "n": n},
            )
        )
    return made


def _without_uids(outcomes: list) -> list:
    return [[{k: v for k, v in i.items() if k != "uid"} for i in o.invitations] for o in outcomes]


def _stored(prefix: str) -> list[tuple]:
    """What was stored for the events of `prefix`, without ids, uids and tokens."""
    with sqlite3.connect(Event._meta.db.path) as conn:
        events = conn.execute(
            "SELECT e.source_id, e.type, e.occurred_at, e.received_at, e.attributes, e.outcome, "
            "c.email, c.locale, c.last_invited_at, c.created_at "
            "FROM event e JOIN customer c ON c.external_id = e.customer_external_id "
            "WHERE e.source_id LIKE ? ORDER BY e.source_id",
            (f"e{prefix}%",),
        ).fetchall()
        invitations = conn.execute(
            "SELECT e.source_id, i.trigger_key, i.survey, i.step, i.channel, i.status, i.locale, "
            "i.attributes, i.created_at, i.send_at, i.expires_at, i.sent_at, i.remind_at, "
            "i.next_attempt_at, i.webhook_url, c.external_id "
            "FROM invitation i JOIN event e ON e.id = i.event_id "
            "JOIN customer c ON c.id = i.customer WHERE e.source_id LIKE ? ORDER BY e.source_id",
            (f"e{prefix}%",),
        ).fetchall()
    rows = []
    for row in events:
        outcome = [{k: v for k, v in o.items() if k != "uid"} for o in json.loads(row[5])]
        rows.append(("event", row[0][len(prefix) + 1 :], *row[1:5], outcome, *row[6:]))
    for row in invitations:
        rows.append(
            ("invitation", row[0][len(prefix) + 1 :], *row[1:-1], row[-1][len(prefix) + 1 :])
        )
    return rows


if ENGINE == "sqlite":

    async def test_rows_decided_ahead_equal_the_rows_decided_in_the_transaction(db, settings):
        await load_org(TRIGGERS + EMAIL_TRIGGER)
        ahead = _events("a", 140)
        here = _events("h", 140)
        prepared = prepare(ahead, settings.secret_key, NOW, _rules())
        plain = prepare(here, settings.secret_key, NOW)
        assert plain.outcomes is None and prepared.outcomes is not None
        kept, decided = _commit(
            settings.secret_key,
            Work(ahead, NOW, ahead=prepared.ahead),
            Work(here, NOW, ahead=plain.ahead),
        )
        assert kept == [None] * 140  # every one kept as decided ahead
        assert None not in decided
        statuses = {i["status"] for o in prepared.outcomes for i in o.invitations}
        assert {"scheduled", "stale", "undeliverable"} <= statuses
        assert _without_uids(prepared.outcomes) == _without_uids(decided)
        assert _stored("a") == _stored("h")
        assert len(_stored("a")) > 140  # events and invitations both compared

    async def test_the_writer_decides_itself_where_the_decision_made_ahead_does_not_hold(
        db, settings
    ):
        await load_org()
        # c0 was invited yesterday; e3 is already stored.
        _commit(
            settings.secret_key,
            Work([event("x", customer="c0"), event(3)], NOW - timedelta(days=1)),
        )
        chunk = [event(n) for n in range(120)]
        chunk[2] = event(2, customer="c1")  # c1 twice in the chunk
        prepared = prepare(chunk, settings.secret_key, NOW, _rules())
        assert prepared.outcomes is not None
        assert {o.invitations[0]["status"] for o in prepared.outcomes} == {"scheduled"}
        (result,) = _commit(settings.secret_key, Work(chunk, NOW, ahead=prepared.ahead))
        assert result.count(None) == 120 - 4
        assert [result[n] is None for n in range(4)] == [False] * 4
        answer = _as_decided(result, prepared.outcomes)
        status = [o.invitations[0]["status"] if o.invitations else None for o in answer]
        # e3 answers as stored the day before.
        assert status[:4] == ["quarantined", "scheduled", "quarantined", "scheduled"]
        assert answer[3].duplicate and not any(o.duplicate for o in answer[:3] + answer[4:])
        assert set(status[4:]) == {"scheduled"}
        assert await Event.count() == 2 + 119

    async def test_a_plan_made_under_other_rules_is_decided_again(db, settings):
        await load_org()
        chunk = [event(n) for n in range(150)]
        prepared = prepare(chunk, settings.secret_key, NOW, _rules())
        await Trigger.update({Trigger.sample_percent: 0.0}).where(Trigger.key == "ticket-link")
        (result,) = _commit(settings.secret_key, Work(chunk, NOW, ahead=prepared.ahead))
        assert None not in result
        assert {o.invitations[0]["status"] for o in result} == {"sampled_out"}
        with sqlite3.connect(Event._meta.db.path) as conn:
            assert conn.execute("SELECT count(*) FROM invitation").fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM event").fetchone()[0] == 150
