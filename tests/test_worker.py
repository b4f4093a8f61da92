"""The delivery worker: one pass at a time with a moved clock; claims, leases, reminders, expiry."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from receivers import SmtpServer, WebhookServer
from trigger_org import NOW, FakeClock, event, event_json, invitation_for_url, load_org

from listening import outbox
from listening.ingest.drivers import FILE_IN_FLIGHT, ingest_events, ingest_file
from listening.ingest.jobs import PRECOMPUTE_FROM
from listening.settings import SmtpSettings
from listening.worker import run_once
from surveys.tables import Customer, Invitation
from surveys.tokens import invitation_token

BASE = "http://feedback.test"


@pytest.fixture
def settings(settings):
    """No LISTENING_BASE_URL: links start with the address the worker is given."""
    return dataclasses.replace(settings, base_url=None)


def with_smtp(settings, port: int):
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=port,
        username=None,
        password=None,
        tls="none",
        sender="feedback@example.com",
    )
    # No LISTENING_BASE_URL: links use the address each pass is given, as `serve` gives its own.
    return dataclasses.replace(settings, smtp=smtp, base_url=None)


def email_trigger(extra: str = "") -> str:
    return f"""
[[triggers]]
key = "mail"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "email"
{extra}
"""


async def ingest(settings, clock, *events):
    return await ingest_events(list(events), secret_key=settings.secret_key, clock=clock)


async def test_invitations_are_sent_only_when_due(settings):
    await load_org(email_trigger('delay = "2h"'))
    clock = FakeClock()
    await ingest(settings, clock, event(1, email="a@example.com"))
    with SmtpServer() as smtp:
        mail_settings = with_smtp(settings, smtp.port)
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).sent == 0
        clock.advance(hours=1, minutes=59)
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).sent == 0
        clock.advance(minutes=1)
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).sent == 1
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).sent == 0
        assert len(smtp.inbox.messages) == 1


async def test_one_reminder_after_the_configured_time_unless_answered(settings):
    await load_org(email_trigger('reminder_after = "3d"'))
    clock = FakeClock()
    await ingest(settings, clock, event(1, email="a@example.com"), event(2, email="b@example.com"))
    with SmtpServer() as smtp:
        mail_settings = with_smtp(settings, smtp.port)
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).sent == 2
        await Invitation.update(
            {Invitation.status: "answered", Invitation.answered_at: clock()}
        ).where(Invitation.customer.external_id == "c2")
        clock.advance(days=2, hours=23)
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).reminded == 0
        clock.advance(hours=1)
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).reminded == 1
        clock.advance(days=3)
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).reminded == 0
        messages = smtp.inbox.messages
    assert len(messages) == 3
    reminder = messages[-1]
    assert reminder["Subject"].startswith("Reminder:")
    assert reminder["To"] == "a@example.com"
    first = next(m for m in messages[:2] if m["To"] == "a@example.com")
    assert reminder["Message-ID"] != first["Message-ID"]
    assert reminder["List-Unsubscribe"] == first["List-Unsubscribe"]


async def test_no_reminder_by_default(settings):
    await load_org(email_trigger())
    clock = FakeClock()
    await ingest(settings, clock, event(1, email="a@example.com"))
    with SmtpServer() as smtp:
        mail_settings = with_smtp(settings, smtp.port)
        await run_once(mail_settings, base_url=BASE, clock=clock)
        clock.advance(days=6)
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).reminded == 0
        assert len(smtp.inbox.messages) == 1


async def test_unanswered_invitations_expire(settings):
    await load_org(email_trigger('expires_after = "2d"'))
    clock = FakeClock()
    await ingest(settings, clock, event(1, email="a@example.com"), event(2, email="b@example.com"))
    await Invitation.update({Invitation.status: "answered"}).where(
        Invitation.customer.external_id == "c2"
    )
    clock.advance(days=2)
    stats = await run_once(settings, base_url=BASE, clock=clock)  # no SMTP: never sent
    assert stats.expired == 1
    rows = {
        r["customer.external_id"]: r["status"]
        for r in await Invitation.select(Invitation.customer.external_id, Invitation.status)
    }
    assert rows == {"c1": "expired", "c2": "answered"}


async def test_email_due_at_night_waits_for_the_morning(settings):
    await load_org(email_trigger())
    clock = FakeClock()
    await ingest(settings, clock, event(1, email="a@example.com", time_zone="Europe/Berlin"))
    # The worker was down all day and comes back at 22:00 in Berlin.
    clock.now = datetime(2026, 3, 11, 21, 0, tzinfo=UTC)
    with SmtpServer() as smtp:
        mail_settings = with_smtp(settings, smtp.port)
        stats = await run_once(mail_settings, base_url=BASE, clock=clock)
        assert (stats.deferred, stats.sent) == (1, 0)
        row = await Invitation.select().first()
        assert row["next_attempt_at"] == datetime(2026, 3, 12, 7, 0, tzinfo=UTC)  # 08:00 CET
        assert row["attempts"] == 0
        clock.now = datetime(2026, 3, 12, 7, 0, tzinfo=UTC)
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).sent == 1
        assert len(smtp.inbox.messages) == 1


async def test_customer_who_opts_out_after_scheduling_gets_nothing(settings):
    await load_org(email_trigger('delay = "1h"'))
    clock = FakeClock()
    await ingest(settings, clock, event(1, email="a@example.com"))
    await Customer.update({Customer.opted_out_at: clock()}).where(Customer.external_id == "c1")
    clock.advance(hours=1)
    with SmtpServer() as smtp:
        stats = await run_once(with_smtp(settings, smtp.port), base_url=BASE, clock=clock)
        assert smtp.inbox.messages == []
    assert stats.cancelled == 1
    assert (await Invitation.select().first())["status"] == "failed"


async def test_concurrent_workers_send_each_invitation_once(settings):
    await load_org(email_trigger())
    clock = FakeClock()
    await ingest(settings, clock, *(event(n, email=f"p{n}@example.com") for n in range(40)))
    with SmtpServer() as smtp:
        mail_settings = with_smtp(settings, smtp.port)
        passes = await asyncio.gather(
            *(run_once(mail_settings, base_url=BASE, clock=clock, limit=15) for _ in range(4))
        )
        while (await run_once(mail_settings, base_url=BASE, clock=clock)).sent:
            pass
        recipients = [m["To"] for m in smtp.inbox.messages]
    assert sum(p.sent for p in passes) <= 40
    assert sorted(recipients) == sorted(f"p{n}@example.com" for n in range(40))
    assert await Invitation.count().where(Invitation.status == "sent") == 40


async def test_a_crashed_workers_claim_runs_out_and_the_message_keeps_its_id(settings):
    await load_org(email_trigger())
    clock = FakeClock()
    await ingest(settings, clock, event(1, email="a@example.com"))
    claimed = await outbox.claim_invitations(clock(), channels=("email",))
    assert len(claimed) == 1  # ... and then this worker dies without a word
    with SmtpServer() as smtp:
        mail_settings = with_smtp(settings, smtp.port)
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).sent == 0
        clock.advance(minutes=5, seconds=1)
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).sent == 1
        (message,) = smtp.inbox.messages
    assert message["Message-ID"] == f"<{claimed[0].uid}@example.com>"


async def test_a_message_sent_again_by_another_worker_keeps_its_message_id(settings):
    await load_org(email_trigger())
    clock = FakeClock()
    await ingest(settings, clock, event(1, email="a@example.com"))
    with SmtpServer() as smtp:
        mail_settings = with_smtp(settings, smtp.port)
        assert (await run_once(mail_settings, base_url=BASE, clock=clock)).sent == 1
        # The relay took the message, but the worker died before recording it: the row is due
        # again, and another worker, linking to its own server's address, sends it again.
        await Invitation.update({Invitation.status: "scheduled"}, force=True)
        other = "http://127.0.0.1:8001"
        assert (await run_once(mail_settings, base_url=other, clock=clock)).sent == 1
        first, again = smtp.inbox.messages
    assert f"{BASE}/s/" in first.get_body(preferencelist=("plain",)).get_content()
    assert f"{other}/s/" in again.get_body(preferencelist=("plain",)).get_content()
    assert first["Message-ID"] == again["Message-ID"]


async def test_worker_runs_inside_the_served_app(settings, ingest_key):
    import httpx
    import uvicorn
    from receivers import free_port

    from listening.app import create_app

    settings = dataclasses.replace(settings, base_url=None)  # links use the listening address

    with WebhookServer() as hook:
        await load_org(
            f"""
[[triggers]]
key = "hook"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "webhook"
webhook_url = "{hook.url}"
"""
        )
        port = free_port()
        listen_url = f"http://127.0.0.1:{port}"
        app = create_app(settings, manage_pool=False, run_worker=True, listen_url=listen_url)
        # A real server in this event loop, with the app's lifespan (which starts the worker).
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        try:
            async with httpx.AsyncClient(base_url=listen_url) as client:
                for _ in range(100):
                    if server.started:
                        break
                    await asyncio.sleep(0.05)
                response = await client.post(
                    "/api/events",
                    json=event_json(1),
                    headers={"Authorization": f"Bearer {ingest_key}"},
                )
                assert response.status_code == 202
                for _ in range(200):  # the worker's idle passes come every second
                    if hook.requests:
                        break
                    await asyncio.sleep(0.05)
        finally:
            server.should_exit = True
            await serving
        assert len(hook.requests) == 1
    payload = json.loads(hook.requests[0][1])
    assert payload["survey_url"].startswith(f"{listen_url}/s/")
    assert (await Invitation.select().first())["status"] == "sent"


def _cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-c", "from listening.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=Path(__file__).parent.parent,
    )


async def test_cli_ingest_imports_a_file_with_the_same_rules_and_idempotency(db, tmp_root):
    await load_org()
    lines = [json.dumps(event_json(n)) for n in range(30)]
    lines.insert(5, json.dumps({"id": "no-type"}))
    lines.append(json.dumps(event_json(0)))  # the same id again
    path = tmp_root / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    first = await asyncio.to_thread(_cli, "ingest", str(path))
    assert first.returncode == 0, first.stderr
    assert "32 events read: 30 stored, 1 already known, 1 rejected" in first.stdout
    assert "scheduled: 30" in first.stdout
    assert "line 6: type" in first.stderr
    assert await Invitation.count() == 30
    again = await asyncio.to_thread(_cli, "ingest", str(path))
    assert "0 stored, 31 already known, 1 rejected" in again.stdout
    assert await Invitation.count() == 30


async def test_file_import_pipelines_chunks_with_the_rules_and_idempotency(db, settings, tmp_root):
    # Chunks large enough to be prepared ahead, and more of them than are kept in flight, so the
    # writer stores one while the next is parsed; repeats and bad lines fall in other chunks.
    await load_org()
    size = PRECOMPUTE_FROM
    total = size * (FILE_IN_FLIGHT + 2) + 17
    lines = [json.dumps(event_json(n)) for n in range(total)]
    lines.insert(size + 3, "{not json")
    lines.insert(2 * size + 5, json.dumps({"id": "no-customer", "type": "ticket.closed"}))
    lines += [json.dumps(event_json(n)) for n in (0, size + 1, total - 1)]  # seen in other chunks
    path = tmp_root / "many.ndjson"
    path.write_text("\n".join(lines) + "\n")
    read: list[int] = []
    summary = await ingest_file(
        path, secret_key=settings.secret_key, chunk=size, progress=read.append
    )
    assert (summary.read, summary.accepted, summary.duplicates, summary.rejected) == (
        total + 5,
        total,
        3,
        2,
    )
    assert summary.outcomes == {"scheduled": total}
    assert sum(read) == path.stat().st_size
    assert [e.split(":")[0] for e in summary.errors] == [f"line {size + 4}", f"line {2 * size + 6}"]
    invitations = await Invitation.select(Invitation.uid, Invitation.event_id)
    assert len(invitations) == total == len({i["event_id"] for i in invitations})
    for found in invitations:  # every link, made ahead or not, opens its own invitation
        url = f"http://localhost/s/{invitation_token(settings.secret_key, found['uid'])}"
        assert (await invitation_for_url(url))["uid"] == found["uid"]
    again = await ingest_file(path, secret_key=settings.secret_key, chunk=size)
    assert (again.accepted, again.duplicates, again.rejected) == (0, total + 3, 2)
    assert await Invitation.count() == total


async def test_cli_worker_once_and_webhook_secret(settings):
    from listening.delivery.webhook import verify, webhook_secret

    with WebhookServer() as hook:
        await load_org(
            f"""
[[triggers]]
key = "hook"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "webhook"
webhook_url = "{hook.url}"
"""
        )
        await ingest_events(
            [event(1, occurred_at=datetime.now(UTC) - timedelta(minutes=1))],
            secret_key=settings.secret_key,
        )
        result = await asyncio.to_thread(_cli, "worker", "--once")
        assert result.returncode == 0, result.stderr
        assert "sent 1" in result.stdout
        ((headers, body),) = hook.requests
    secret = await asyncio.to_thread(_cli, "webhook-secret")
    assert secret.stdout.strip() == webhook_secret(settings.secret_key)
    assert verify(
        secret.stdout.strip(),
        headers["x-listening-timestamp"],
        body,
        headers["x-listening-signature"],
    )


@pytest.mark.parametrize("workers", [2])
async def test_claims_hand_each_row_to_one_claimant(settings, workers):
    await load_org(email_trigger())
    clock = FakeClock()
    await ingest(settings, clock, *(event(n, email=f"q{n}@example.com") for n in range(30)))
    batches = await asyncio.gather(
        *(outbox.claim_invitations(clock(), channels=("email",), limit=20) for _ in range(workers))
    )
    ids = [due.id for batch in batches for due in batch]
    assert len(ids) == len(set(ids))
    assert len(ids) == min(30, 20 * workers)
    assert clock() == NOW


async def test_worker_applies_the_retention_setting_hourly(db, tmp_path):
    """With LISTENING_RETENTION_DAYS the worker purges old personal data, at most once an hour."""
    from datetime import UTC, datetime, timedelta

    from listening.settings import load_settings
    from listening.worker import purge_when_due
    from surveys.tables import Customer

    old = datetime(2026, 1, 1, tzinfo=UTC)
    await Customer.insert(
        Customer(external_id="c-old", email="old@example.com", name="Old", created_at=old)
    )
    now = old + timedelta(days=400)
    settings = load_settings()
    assert await purge_when_due(settings, None, clock=lambda: now) is None  # retention off
    assert (await Customer.select().first())["email"] == "old@example.com"

    keeping = load_settings({**os.environ, "LISTENING_RETENTION_DAYS": "90"})
    ran = await purge_when_due(keeping, None, clock=lambda: now)
    assert ran == now
    assert (await Customer.select().first())["email"] is None
    assert await purge_when_due(keeping, ran, clock=lambda: now + timedelta(minutes=5)) == ran
