"""Trigger rules: filters, sampling, contact frequency, opt-out, delay, expiry, staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from trigger_org import NOW, FakeClock, event, load_org

from listening.ingest.drivers import ingest_events
from listening.triggers import matches, outside_quiet_hours, sampled_in
from surveys.tables import Customer, Invitation, Suppression

SECRET = "test-secret-" + "k" * 40


async def ingest(events, clock):
    return await ingest_events(list(events), secret_key=SECRET, clock=clock)


def statuses(outcomes) -> list[str]:
    return [o.invitations[0]["status"] if o.invitations else "-" for o in outcomes]


# --- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "attributes", "expected"),
    [
        ({"channel": "phone"}, {"channel": "phone"}, True),
        ({"channel": "phone"}, {"channel": "chat"}, False),
        ({"channel": "phone"}, {}, False),
        ({"channel": ["phone", "chat"]}, {"channel": "chat"}, True),
        ({"channel": ["phone", "chat"]}, {"channel": "email"}, False),
        ({"tier": {"not": ["internal"]}}, {"tier": "gold"}, True),
        ({"tier": {"not": ["internal"]}}, {"tier": "internal"}, False),
        ({"tier": {"not": ["internal"]}}, {}, True),
        ({"tier": {"in": ["gold"]}}, {"tier": "gold"}, True),
        ({"vip": True}, {"vip": 1}, False),
        ({"vip": True}, {"vip": True}, True),
        ({"agent": 17}, {"agent": 17}, True),
        ({"channel": ["phone"], "tier": {"not": ["internal"]}}, {"channel": "phone"}, True),
        ({"channel": ["phone"], "tier": {"not": ["internal"]}}, {"tier": "internal"}, False),
    ],
)
def test_filters(filters, attributes, expected):
    assert matches(filters, attributes) is expected


async def test_filters_pick_which_events_invite(db):
    await load_org(
        """
[[triggers]]
key = "calls"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "link"
filters = { channel = ["phone", "chat"], tier = { not = ["internal"] } }
"""
    )
    clock = FakeClock()
    outcomes = await ingest(
        [
            event(1, attributes={"channel": "phone", "tier": "gold"}),
            event(2, attributes={"channel": "email"}),
            event(3, attributes={"channel": "chat", "tier": "internal"}),
            event(4, attributes={"channel": "chat"}),
        ],
        clock,
    )
    assert [len(o.invitations) for o in outcomes] == [1, 0, 0, 1]
    assert await Invitation.count() == 2


# --- sampling --------------------------------------------------------------------------------


def test_sampling_is_decided_by_the_event_id():
    decisions = [sampled_in(f"ev-{i}", "t", 30) for i in range(1000)]
    assert decisions == [sampled_in(f"ev-{i}", "t", 30) for i in range(1000)]
    assert all(sampled_in(f"ev-{i}", "t", 100) for i in range(100))
    assert not any(sampled_in(f"ev-{i}", "t", 0) for i in range(100))


async def test_sample_rate_holds_over_ten_thousand_events_and_reingestion_decides_the_same(db):
    await load_org(
        """
[[triggers]]
key = "sampled"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "link"
sample_percent = 30
"""
    )
    clock = FakeClock()
    batch = [event(n) for n in range(10_000)]
    outcomes = await ingest(batch, clock)
    scheduled = statuses(outcomes).count("scheduled")
    assert set(statuses(outcomes)) == {"scheduled", "sampled_out"}
    assert abs(scheduled / 100 - 30) <= 2, scheduled
    assert await Invitation.count() == scheduled
    again = await ingest(batch, clock)
    assert all(o.duplicate for o in again)
    assert statuses(again) == statuses(outcomes)
    # The verdict depends on the id alone: the same ids in a fresh database decide the same.
    await Invitation.delete(force=True)
    from listening.tables import Event

    await Event.delete(force=True)
    await Customer.delete(force=True)
    fresh = await ingest(batch, clock)
    assert statuses(fresh) == statuses(outcomes)


# --- contact frequency and opt-out -----------------------------------------------------------


async def test_a_customer_invited_in_the_last_30_days_is_quarantined(db):
    await load_org()
    clock = FakeClock()
    (first,) = await ingest([event(1, customer="ann", occurred_at=clock.now)], clock)
    assert statuses([first]) == ["scheduled"]
    clock.advance(days=29)
    (second,) = await ingest([event(2, customer="ann", occurred_at=clock.now)], clock)
    assert statuses([second]) == ["quarantined"]
    clock.advance(days=2)
    (third,) = await ingest([event(3, customer="ann", occurred_at=clock.now)], clock)
    assert statuses([third]) == ["scheduled"]
    assert await Invitation.count() == 2


async def test_quarantine_counts_every_survey_and_scheduled_invitations(db):
    await load_org(
        """
[[triggers]]
key = "ticket-email"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "email"
delay = "3d"

[[triggers]]
key = "delivery-link"
event_type = "order.delivered"
step = "order-delivered"
channel = "link"
"""
    )
    clock = FakeClock()
    (first,) = await ingest([event(1, customer="bob", email="bob@example.com")], clock)
    assert statuses([first]) == ["scheduled"]  # not sent before three days
    clock.advance(hours=1)
    (other,) = await ingest(
        [event(2, customer="bob", type="order.delivered", occurred_at=clock.now)], clock
    )
    assert statuses([other]) == ["quarantined"]


async def test_two_events_of_one_customer_in_one_batch_invite_once(db):
    await load_org()
    outcomes = await ingest([event(1, customer="cy"), event(2, customer="cy")], FakeClock())
    assert statuses(outcomes) == ["scheduled", "quarantined"]


async def test_per_trigger_quarantine_overrides_the_global_one(db):
    await load_org(
        """
[[triggers]]
key = "short"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "link"
quarantine = "14d"
"""
    )
    clock = FakeClock()
    await ingest([event(1, customer="dee", occurred_at=clock.now)], clock)
    clock.advance(days=13)
    assert statuses(await ingest([event(2, customer="dee", occurred_at=clock.now)], clock)) == [
        "quarantined"
    ]
    clock.advance(days=2)
    assert statuses(await ingest([event(3, customer="dee", occurred_at=clock.now)], clock)) == [
        "scheduled"
    ]


async def test_global_quarantine_comes_from_the_journey_file(db):
    await load_org()
    from trigger_org import JOURNEY, TRIGGERS

    from listening.journeys import load_journey_file

    await load_journey_file(JOURNEY.replace('quarantine = "30d"', 'quarantine = "7d"') + TRIGGERS)
    clock = FakeClock()
    await ingest([event(1, customer="eve", occurred_at=clock.now)], clock)
    clock.advance(days=8)
    assert statuses(await ingest([event(2, customer="eve", occurred_at=clock.now)], clock)) == [
        "scheduled"
    ]


async def test_opted_out_customer_is_never_invited(db):
    await load_org()
    clock = FakeClock()
    await ingest([event(1, customer="fay", occurred_at=clock.now)], clock)
    await Customer.update({Customer.opted_out_at: clock()}).where(Customer.external_id == "fay")
    clock.advance(days=60)
    assert statuses(await ingest([event(2, customer="fay", occurred_at=clock.now)], clock)) == [
        "opted_out"
    ]
    assert await Invitation.count() == 1


async def test_suppressed_address_gets_no_email_invitation(db):
    await load_org(
        """
[[triggers]]
key = "mail"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "email"
"""
    )
    await Suppression.insert(Suppression(email="gus@example.com", reason="bounce", created_at=NOW))
    outcomes = await ingest(
        [event(1, email="GUS@example.com"), event(2, email="hal@example.com"), event(3)],
        FakeClock(),
    )
    assert statuses(outcomes) == ["opted_out", "scheduled", "undeliverable"]


# --- timing ----------------------------------------------------------------------------------


async def test_delay_and_expiry_count_from_the_event(db):
    await load_org(
        """
[[triggers]]
key = "later"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "link"
delay = "2h"
expires_after = "3d"
"""
    )
    clock = FakeClock()
    occurred = NOW - timedelta(minutes=30)
    (outcome,) = await ingest([event(1, occurred_at=occurred)], clock)
    send_at = occurred + timedelta(hours=2)
    assert outcome.invitations[0]["send_at"] == send_at.isoformat()
    row = await Invitation.select().first()
    assert row["send_at"] == send_at
    assert row["expires_at"] == send_at + timedelta(days=3)
    assert row["created_at"] == NOW


async def test_delay_already_passed_sends_now(db):
    await load_org(TRIGGERS_DELAYED)
    clock = FakeClock()
    (outcome,) = await ingest([event(1, occurred_at=NOW - timedelta(hours=5))], clock)
    assert outcome.invitations[0]["send_at"] == NOW.isoformat()


TRIGGERS_DELAYED = """
[[triggers]]
key = "later"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "link"
delay = "2h"
"""


async def test_events_older_than_the_maximum_age_are_stale(db):
    await load_org(
        """
[[triggers]]
key = "fresh-only"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "link"
max_event_age = "2d"
"""
    )
    clock = FakeClock()
    outcomes = await ingest(
        [
            event(1, occurred_at=NOW - timedelta(days=2, minutes=1)),
            event(2, occurred_at=NOW - timedelta(days=1, hours=23)),
        ],
        clock,
    )
    assert statuses(outcomes) == ["stale", "scheduled"]
    # Stale outcomes leave the customer free for the next survey.
    assert await Invitation.count() == 1


async def test_default_maximum_age_is_seven_days(db):
    await load_org()
    outcomes = await ingest(
        [
            event(1, occurred_at=NOW - timedelta(days=8)),
            event(2, occurred_at=NOW - timedelta(days=6)),
        ],
        FakeClock(),
    )
    assert statuses(outcomes) == ["stale", "scheduled"]


def test_quiet_hours_move_email_to_eight_in_the_morning():
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    late = datetime(2026, 3, 11, 22, 30, tzinfo=berlin)
    assert outside_quiet_hours(late, berlin) == datetime(2026, 3, 12, 8, 0, tzinfo=berlin)
    early = datetime(2026, 3, 11, 6, 0, tzinfo=berlin)
    assert outside_quiet_hours(early, berlin) == datetime(2026, 3, 11, 8, 0, tzinfo=berlin)
    day = datetime(2026, 3, 11, 12, 0, tzinfo=berlin)
    assert outside_quiet_hours(day, berlin) == day


async def test_email_invitation_waits_for_the_morning_in_the_customers_time_zone(db):
    await load_org(
        """
[[triggers]]
key = "mail"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "email"
"""
    )
    # 12:00 UTC is 21:00 in Tokyo (quiet) and 08:00 in New York... minus daylight time: 08:00 EDT.
    clock = FakeClock(datetime(2026, 3, 11, 12, 0, tzinfo=UTC))
    outcomes = await ingest(
        [
            event(1, occurred_at=clock.now, email="a@example.com", time_zone="Asia/Tokyo"),
            event(2, occurred_at=clock.now, email="b@example.com", time_zone="America/New_York"),
            event(3, occurred_at=clock.now, email="c@example.com", locale="ja-JP"),
        ],
        clock,
    )
    tokyo_morning = datetime(2026, 3, 12, 8, 0, tzinfo=UTC) - timedelta(hours=9)
    assert outcomes[0].invitations[0]["send_at"] == tokyo_morning.isoformat()
    assert outcomes[1].invitations[0]["send_at"] == clock.now.isoformat()
    assert outcomes[2].invitations[0]["send_at"] == tokyo_morning.isoformat()


# --- the trigger admin API -------------------------------------------------------------------


async def test_trigger_api_create_read_update_deactivate(admin_client, db):
    await load_org("")
    body = {
        "key": "api-made",
        "event_type": "order.delivered",
        "step": "order-delivered",
        "channel": "webhook",
        "webhook_url": "https://hooks.example.com/in",
        "sample_percent": 12.5,
        "delay_seconds": 3600,
        "filters": {"region": ["eu"]},
    }
    created = await admin_client.post("/api/triggers", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["sample_percent"] == 12.5
    assert (await admin_client.post("/api/triggers", json=body)).status_code == 409
    listed = (await admin_client.get("/api/triggers")).json()
    assert [t["key"] for t in listed] == ["api-made"]
    changed = await admin_client.patch("/api/triggers/api-made", json={"sample_percent": 50})
    assert changed.status_code == 200 and changed.json()["sample_percent"] == 50
    assert changed.json()["delay_seconds"] == 3600
    gone = await admin_client.delete("/api/triggers/api-made")
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert (await admin_client.get("/api/triggers/nope")).status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"step": "no-such-step"}, 404, "step"),
        ({"channel": "pigeon"}, 422, "channel"),
        ({"channel": "webhook"}, 422, "webhook_url"),
        ({"sample_percent": 101}, 400, "sample_percent"),
        ({"filters": {"a": {"b": 1}}}, 422, "filters.a"),
        ({"key": "has space"}, 400, "key"),
    ],
)
async def test_trigger_api_refuses_bad_rules(admin_client, db, change, status, field):
    await load_org("")
    body = {"key": "t", "event_type": "x", "step": "order-delivered", "channel": "link"}
    body.update(change)
    response = await admin_client.post("/api/triggers", json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


async def test_trigger_api_needs_an_admin(client, db, ingest_key):
    assert (await client.get("/api/triggers")).status_code == 401
    forbidden = await client.get("/api/triggers", headers={"Authorization": f"Bearer {ingest_key}"})
    assert forbidden.status_code == 403


async def test_journey_file_with_a_bad_trigger_writes_nothing(db):
    from trigger_org import JOURNEY

    from listening.journeys import load_journey_file
    from listening.tables import Trigger
    from surveys.errors import Invalid
    from surveys.tables import Step

    with pytest.raises(Invalid) as caught:
        await load_journey_file(
            JOURNEY + '\n[[triggers]]\nevent_type = "x"\nstep = "ticket-resolved"\ndelay = "soon"\n'
        )
    assert caught.value.field == "triggers[0].delay"
    with pytest.raises(Invalid) as caught:
        await load_journey_file(JOURNEY + '\n[[triggers]]\nevent_type = "x"\nstep = "nowhere"\n')
    assert caught.value.field == "triggers[0].step"
    assert await Step.count() == 0
    assert await Trigger.count() == 0


async def test_journey_file_triggers_load_once(db):
    from trigger_org import JOURNEY, TRIGGERS

    from listening.journeys import load_journey_file

    first = await load_journey_file(JOURNEY + TRIGGERS)
    assert first.created["triggers"] == 1
    second = await load_journey_file(JOURNEY + TRIGGERS)
    assert not second.changed
    third = await load_journey_file(JOURNEY + TRIGGERS.replace('"link"', '"email"'))
    assert third.updated == {"triggers": 1}
