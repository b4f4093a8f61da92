"""Crash safety: the server (with its delivery worker) is killed with SIGKILL mid-stream.

Events and survey submissions stream at a running server; one invitation email is held inside
the SMTP server (received, but never acknowledged) so the worker is mid-send, and later
invitations wait in the outbox. Then SIGKILL, and a restart on the same database. Every event
and response that had a 2xx answer is there exactly once; the outbox resumes, sending what was
queued; and the email caught mid-send is sent again with the same Message-ID.

The delivery lease is shortened to a few seconds so the re-send comes soon after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections import Counter
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from example_org import LINK_TRIGGER, daytime_zone, link_event, load_example_org, token_of
from live_server import LiveServer
from receivers import Inbox, free_port

from listening.delivery.email import message_id
from listening.tables import Event
from surveys.tables import Invitation, Response

EMAIL_EVENT = "crash.email"
EMAIL_TRIGGER = f"""
[[triggers]]
key = "crash-email"
event_type = "{EMAIL_EVENT}"
step = "ticket-resolved"
channel = "email"
quarantine = "0s"
"""
HELD = "held@example.com"
SENDER = "Listening Post <feedback@crash.example>"


class HoldingInbox(Inbox):
    """Keeps every message; holds the SMTP answer for HELD until released, as a crash would."""

    def __init__(self) -> None:
        super().__init__()
        self.held = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if HELD in envelope.rcpt_tos and not self.release.is_set():
            self.held.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        return answer


class Stream:
    """Events and submissions sent concurrently; what got a 2xx answer is recorded."""

    def __init__(self, http: httpx.AsyncClient, key: str, run: str) -> None:
        self.http = http
        self.auth = {"Authorization": f"Bearer {key}"}
        self.run = run
        self.zone = daytime_zone()
        self.acked_events: list[str] = []
        self.emailed: list[str] = []  # addresses of acked events with an email invitation
        self.tokens: list[str] = []
        self.answered: list[str] = []  # tokens whose submission got 201
        self.stopped = False
        self.count = 0

    def email_event(self, n: int, email: str) -> dict[str, Any]:
        event = link_event(f"{self.run}-m{n}", f"{self.run}-cm{n}", type=EMAIL_EVENT)
        event["customer"].update(email=email, time_zone=self.zone)
        return event

    async def send_event(self, body: dict[str, Any]) -> None:
        answer = await self.http.post("/api/events", json=body, headers=self.auth)
        if answer.status_code in (200, 202):
            self.acked_events.append(body["id"])
            if body["type"] == EMAIL_EVENT:
                self.emailed.append(body["customer"]["email"])
            else:
                self.tokens.append(token_of(answer.json()))
        else:
            assert answer.status_code < 500, answer.text

    async def events(self, lane: int) -> None:
        n = 0
        while not self.stopped:
            n += 1
            tag = f"{lane}-{n}"
            if n % 2:
                body = link_event(f"{self.run}-l{tag}", f"{self.run}-cl{tag}")
            else:
                body = self.email_event(n * 10 + lane, f"c{self.run}-{tag}@example.com")
            with contextlib.suppress(httpx.TransportError):
                await self.send_event(body)

    async def submissions(self) -> None:
        done = 0
        while not self.stopped:
            if done >= len(self.tokens):
                await asyncio.sleep(0.01)
                continue
            token = self.tokens[done]
            done += 1
            with contextlib.suppress(httpx.TransportError):
                answer = await self.http.post(
                    f"/api/responses/{token}", json={"answers": {"csat": 4, "comment": "ok"}}
                )
                assert answer.status_code < 500, answer.text
                if answer.status_code == 201:
                    self.answered.append(token)


async def _wait_for(condition: Any, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.25)
    return False


async def test_killed_mid_stream_loses_no_acknowledged_write_and_resumes_the_outbox(db, tmp_root):
    org = await load_example_org(extra=LINK_TRIGGER + EMAIL_TRIGGER)
    run = secrets.token_hex(3)
    inbox = HoldingInbox()
    smtp_port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    env = {
        "LISTENING_SMTP_HOST": "127.0.0.1",
        "LISTENING_SMTP_PORT": str(smtp_port),
        "LISTENING_SMTP_TLS": "none",
        "LISTENING_SMTP_SENDER": SENDER,
        "LISTENING_DELIVERY_LEASE_SECONDS": "5",
        "LISTENING_PUBLIC_RATE_LIMIT": "100000",
        "LISTENING_TOKEN_RATE_LIMIT": "100000",
    }
    log = tmp_root / f"crash-{run}.log"
    server = LiveServer(log, env=env, run_worker=True).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            stream = Stream(http, org.admin_key, run)
            # The first email invitation is the one caught mid-send.
            await stream.send_event(stream.email_event(0, HELD))
            assert stream.emailed, "the held invitation's event was accepted"
            tasks = [asyncio.create_task(stream.events(lane)) for lane in range(3)]
            tasks.append(asyncio.create_task(stream.submissions()))

            async def busy_enough() -> bool:
                return (
                    inbox.held.is_set() and len(stream.emailed) >= 10 and len(stream.answered) >= 10
                )

            assert await _wait_for(busy_enough), server.log()[-3000:]
            server.kill()  # requests are in flight: their answers never come
            stream.stopped = True
            await asyncio.gather(*tasks)
        before_restart = Counter(r[0] for r in inbox.recipients)
        inbox.release.set()
        server = LiveServer(log, env=env, run_worker=True, port=server.port).start()

        async def all_sent() -> bool:
            sent = await Invitation.count().where(
                (Invitation.channel == "email") & (Invitation.status == "sent")
            )
            return (
                sent >= len(stream.emailed) and Counter(r[0] for r in inbox.recipients)[HELD] >= 2
            )

        assert await _wait_for(all_sent), server.log()[-3000:]
    finally:
        server.stop()
        smtp.stop()

    # Every acknowledged event is stored, exactly once; nothing is stored twice.
    stored = [r["source_id"] for r in await Event.select(Event.source_id)]
    assert len(stored) == len(set(stored))
    assert set(stream.acked_events) <= set(stored)
    # Every acknowledged submission is stored, exactly once.
    invitations = await Invitation.select(Invitation.id, Invitation.uid, Invitation.status)
    responses = [r["invitation"] for r in await Response.select(Response.invitation)]
    assert len(responses) == len(set(responses))
    answered = {r["id"] for r in invitations if r["status"] == "answered"}
    assert set(responses) == answered
    assert len(answered) >= len(stream.answered) >= 10
    # The outbox resumed: invitations still queued at the crash were sent after the restart.
    acked_emails = set(stream.emailed)
    received = Counter(r[0] for r in inbox.recipients)
    assert acked_emails <= set(received)
    assert acked_emails - set(before_restart), "some invitations were still queued at the crash"
    # The email caught mid-send was sent again, with the same Message-ID as the first time.
    sent = list(zip(inbox.recipients, inbox.messages, strict=True))
    held_ids = [m["Message-ID"] for to, m in sent if to == [HELD]]
    held_uid = (
        await Invitation.select(Invitation.uid).where(Invitation.customer.email == HELD).first()
    )["uid"]
    assert len(held_ids) >= 2
    assert set(held_ids) == {message_id(held_uid, SENDER)}
    # No other message went out twice under different ids.
    by_recipient: dict[str, set[str]] = {}
    for to, message in sent:
        by_recipient.setdefault(to[0], set()).add(message["Message-ID"])
    assert all(len(ids) == 1 for ids in by_recipient.values())
    assert "database is locked" not in server.log()
