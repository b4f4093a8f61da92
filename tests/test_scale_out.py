"""Scale-out on PostgreSQL with Redis: two `listening serve` and two `listening worker` processes.

The four processes share the test run's PostgreSQL database and a Redis database of this test's
own (the rate limits' counters). Load is spread over both servers, as a load balancer would
spread it: events through the ingest API (one at a time, in batches, and the same id sent to
both servers at once), survey answers through the token API and the survey page, a rating round
with employee ratings, and employees added to the round during it, invited from both servers at
once. Each worker hands its mail to an SMTP server of its own on loopback, so every message is
known to come from one worker or the other. The first survey invitation worker A sends is held
unanswered in its SMTP server (received, never acknowledged); then server A and worker A are
killed with SIGKILL, the clients go on against server B, and worker B takes over A's claims once
their lease (shortened to a few seconds) runs out.

Then: no request answered 5xx; every event and survey answer that got a 2xx answer is stored
exactly once and the tallies equal the stored rows; every employee rating is one row; every
invitation and queued message was delivered at least once, each with one Message-ID; the
invitation held at the kill was sent again by worker B with the same Message-ID; the servers
counted rate limits in Redis together.

It runs in the PostgreSQL pass only: spreading over several machines means PostgreSQL (a SQLite
file lives on one machine; docs/operations.md, "Running several processes").
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from conftest import ENGINE, PASSWORD
from example_org import LINK_TRIGGER, daytime_zone, link_event, load_example_org, token_of
from live_server import LiveServer
from receivers import free_port

# A Redis database of this test's own, emptied before and after the run.
REDIS_URL = "redis://127.0.0.1:6379/9"
SENDER = "Listening Post <feedback@scale.example>"
LEASE_SECONDS = 5
TOKEN_LIMIT = 8  # per survey token and minute, counted in Redis by both servers together
EMPLOYEES = 6
LATE_JOINERS = 3
STEPS = {"reach-support": ("effort", 7), "ticket-resolved": ("csat", 5)}  # question, top score
EMAIL_EVENT = "scale.email"
EMAIL_TRIGGER = f"""
[[triggers]]
key = "scale-email"
event_type = "{EMAIL_EVENT}"
step = "ticket-resolved"
channel = "email"
quarantine = "0s"
"""


@dataclass
class Received:
    """One message as an SMTP server took it, and which worker sent it."""

    worker: str
    recipient: str
    message: EmailMessage
    after_kill: bool


@dataclass
class Mailroom:
    """What both SMTP servers received; holds worker A's first survey invitation unanswered."""

    received: list[Received] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    killed: threading.Event = field(default_factory=threading.Event)
    held_message: EmailMessage | None = None

    def handler(self, worker: str) -> Any:
        """The aiosmtpd handler of one worker's SMTP server."""
        room = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = message_from_bytes(envelope.content, policy=policy.default)
                (recipient,) = envelope.rcpt_tos
                room.received.append(Received(worker, recipient, message, room.killed.is_set()))
                invitation = message["Subject"].startswith("How was it")
                if worker == "a" and invitation and not room.held.is_set():
                    # Received but never acknowledged: worker A is mid-send when it is killed.
                    room.held_message = message
                    room.held.set()
                    while not room.release.is_set():
                        await asyncio.sleep(0.05)
                return "250 Message accepted"

        return Handler()


class WorkerProcess:
    """One `listening worker` process, its output in a log file."""

    def __init__(self, log_path: Path, env: dict[str, str], base_url: str) -> None:
        listening = str(Path(sys.executable).with_name("listening"))
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [listening, "worker", "--interval", "0.2", "--base-url", base_url],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        """Everything the worker printed."""
        return self.log_path.read_text(errors="replace")


class Load:
    """Clients taking turns between the two servers; what got a 2xx answer is recorded.

    A request whose server does not answer (refused, or cut off by the kill) is sent again to the
    other server, as a load balancer or a retrying client would: the same event id, the same
    survey token, so a repeat must not store anything twice.
    """

    def __init__(self, http: httpx.AsyncClient, urls: list[str], keys: dict[str, str]) -> None:
        self.http = http
        self.urls = urls
        self.ingest = {"Authorization": f"Bearer {keys['ingest']}"}
        self.admin = {"Authorization": f"Bearer {keys['admin']}"}
        self.run = secrets.token_hex(3)
        self.zone = daytime_zone()
        self.turn = 0
        self.stopped = False
        self.server_errors: list[str] = []
        self.unanswered: list[str] = []
        self.acked_events: set[str] = set()
        self.emailed: set[str] = set()  # addresses of acked events with an email invitation
        self.tokens: list[str] = []
        self.answered: set[str] = set()  # tokens whose answer got 201 (API) or 303 (page)
        self.answered_before: set[str] = set()  # tokens a retry found already answered
        self.pairs: list[tuple[int, int]] = []  # one id sent to both servers: both statuses
        self.rated: dict[tuple[str, str], set[int]] = {}  # (employee, step) -> scores sent
        self.rated_acked: set[tuple[str, str]] = set()

    async def request(
        self, method: str, path: str, client: httpx.AsyncClient | None = None, **kw: Any
    ) -> httpx.Response | None:
        """Send to the next server in turn, and to the other one if it does not answer."""
        self.turn += 1
        first = self.turn % 2
        for server in (first, 1 - first):
            try:
                answer = await (client or self.http).request(method, self.urls[server] + path, **kw)
            except httpx.TransportError:
                continue
            if answer.status_code >= 500:
                self.server_errors.append(f"{method} {path}: {answer.status_code} {answer.text}")
            return answer
        self.unanswered.append(f"{method} {path}")
        return None

    # --- events ---------------------------------------------------------------------------

    def email_event(self, tag: str) -> dict[str, Any]:
        event = link_event(f"{self.run}-m{tag}", f"{self.run}-cm{tag}", type=EMAIL_EVENT)
        event["customer"].update(email=f"c{self.run}-{tag}@example.com", time_zone=self.zone)
        return event

    def note_event(self, body: dict[str, Any], answer: httpx.Response | None) -> None:
        if answer is None or answer.status_code not in (200, 202):
            return
        self.acked_events.add(body["id"])
        if body["type"] == EMAIL_EVENT:
            self.emailed.add(body["customer"]["email"])
        elif answer.status_code == 202:
            self.tokens.append(token_of(answer.json()))

    async def events(self, lane: int) -> None:
        n = 0
        while not self.stopped:
            n += 1
            tag = f"{lane}-{n}"
            if n % 3 == 0:
                body = self.email_event(tag)
            else:
                body = link_event(f"{self.run}-l{tag}", f"{self.run}-cl{tag}")
            if n % 3 == 1:
                await self.both_servers(body)
            else:
                answer = await self.request("POST", "/api/events", json=body, headers=self.ingest)
                self.note_event(body, answer)

    async def both_servers(self, body: dict[str, Any]) -> None:
        """The same event to both servers at once: one stores it, the other answers duplicate."""

        async def send(url: str) -> httpx.Response | None:
            with contextlib.suppress(httpx.TransportError):
                return await self.http.post(f"{url}/api/events", json=body, headers=self.ingest)
            return None

        answers = await asyncio.gather(*(send(url) for url in self.urls))
        for answer in answers:
            if answer is not None and answer.status_code >= 500:
                self.server_errors.append(f"POST /api/events: {answer.status_code} {answer.text}")
        if all(a is not None for a in answers):
            self.pairs.append((answers[0].status_code, answers[1].status_code))
        stored = next((a for a in answers if a is not None and a.status_code == 202), None)
        self.note_event(body, stored or next((a for a in answers if a is not None), None))

    async def batches(self) -> None:
        n = 0
        while not self.stopped:
            n += 1
            bodies = [self.email_event(f"b{n}-{i}") for i in range(10)]
            answer = await self.request(
                "POST", "/api/events/batch", json=bodies, headers=self.ingest
            )
            if answer is not None and answer.status_code == 200:
                results = answer.json()["results"]
                for body, result in zip(bodies, results, strict=True):
                    assert result["event_id"] == body["id"], result
                    assert result["status_code"] in (200, 202), result
                    self.acked_events.add(body["id"])
                    self.emailed.add(body["customer"]["email"])

    # --- survey answers -------------------------------------------------------------------

    async def api_answers(self, lane: int) -> None:
        done = lane
        while not self.stopped:
            if done >= len(self.tokens):
                await asyncio.sleep(0.01)
                continue
            token = self.tokens[done]
            done += 3
            body = {"answers": {"csat": 1 + done % 5, "comment": "fine"}}
            answer = await self.request("POST", f"/api/responses/{token}", json=body)
            self.note_answer(token, answer, 201)

    async def page_answers(self) -> None:
        """Answers through the survey page: open it on one server, submit (maybe) on the other."""
        done = 2
        async with httpx.AsyncClient(timeout=30, headers={"accept": "text/html"}) as browser:
            while not self.stopped:
                if done >= len(self.tokens):
                    await asyncio.sleep(0.01)
                    continue
                token = self.tokens[done]
                done += 3
                page = await self.request("GET", f"/s/{token}", browser)
                if page is None or page.status_code != 200:
                    self.note_answer(token, page, 200)
                    continue
                form = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
                assert form is not None, page.text
                fields = {"_csrf_token": form.group(1), "csat": str(1 + done % 5)}
                answer = await self.request("POST", f"/s/{token}", browser, data=fields)
                self.note_answer(token, answer, 303)

    def note_answer(self, token: str, answer: httpx.Response | None, created: int) -> None:
        if answer is None:
            return
        if answer.status_code == created:
            self.answered.add(token)
        elif answer.status_code == 409 or "already answered" in answer.text:
            self.answered_before.add(token)
        else:
            assert answer.status_code < 500, answer.text

    # --- the rating round -----------------------------------------------------------------

    async def employee(self, email: str) -> None:
        """Log in on one server, then rate both steps again and again on either server."""
        async with httpx.AsyncClient(timeout=30) as own:
            await self.request("GET", "/login", own)
            form = {
                "email": email,
                "password": PASSWORD,
                "_csrf_token": own.cookies.get("lp_csrf"),
                "next": "/",
            }
            logged_in = await self.request("POST", "/login", own, data=form)
            assert logged_in is not None and logged_in.status_code == 303, logged_in
            own.headers["x-csrftoken"] = own.cookies.get("lp_csrf")
            n = 0
            while not self.stopped:
                for step, (question, top) in STEPS.items():
                    n += 1
                    score = 1 + (n * 5 + len(email)) % top
                    self.rated.setdefault((email, step), set()).add(score)
                    body = {"step": step, "answers": {question: score}}
                    answer = await self.request("POST", "/api/self-ratings", own, json=body)
                    if answer is None:
                        continue
                    # A 5xx is counted in server_errors; anything else but 201 is wrong here.
                    assert answer.status_code == 201 or answer.status_code >= 500, answer.text
                    if answer.status_code == 201:
                        self.rated_acked.add((email, step))
                await asyncio.sleep(0.05)

    async def late_joiners(self, round_id: int) -> list[int]:
        """Employees added during the round, invited from both servers at the same moment."""
        for n in range(LATE_JOINERS):
            body = {
                "email": f"late{n}-{self.run}@example.com",
                "name": f"Late {n}",
                "roles": ["employee"],
                "department": "support",
            }
            answer = await self.request("POST", "/api/users", headers=self.admin, json=body)
            assert answer is not None and answer.status_code == 201, answer

        async def invite(url: str) -> httpx.Response:
            return await self.http.post(
                f"{url}/api/rounds/{round_id}/invitations", headers=self.admin
            )

        answers = await asyncio.gather(*(invite(url) for url in self.urls))
        for answer in answers:
            if answer.status_code >= 500:
                self.server_errors.append(f"invitations: {answer.status_code} {answer.text}")
        return [a.json()["invited"] for a in answers if a.status_code == 200]


async def _wait_for(
    condition: Any, what: str, tasks: list[asyncio.Task] = (), timeout: float = 90.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task in tasks:
            if task.done():
                task.result()  # a client that failed an assertion fails the test now
        if await condition():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"waited {timeout:.0f}s for {what}")


def _text(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _fresh_redis() -> Any:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        raise AssertionError(
            f"the scale-out test needs Redis at {REDIS_URL} ({exc}); .ci/run starts it, "
            "or run `redis-server --daemonize yes`"
        ) from None
    client.flushdb()
    return client


async def _shared_token_limit(load: Load, token: str) -> list[int]:
    """One survey token asked for alternately on both servers, past the limit."""
    if time.time() % 60 > 55:  # the counters are one-minute windows: start well inside one
        await asyncio.sleep(61 - time.time() % 60)
    statuses = []
    for n in range(TOKEN_LIMIT + 2):
        answer = await load.http.get(f"{load.urls[n % 2]}/api/responses/{token}")
        statuses.append(answer.status_code)
    return statuses


def _start(
    logs: Path, smtp: dict[str, int]
) -> tuple[dict[str, LiveServer], dict[str, WorkerProcess]]:
    """Two `listening serve --no-worker` and two `listening worker`, worker X beside server X."""
    shared = {
        # No public address: on loopback each server links to itself, and each worker to its
        # own server, so the two workers' links differ while a message's Message-ID must not.
        "LISTENING_BASE_URL": "",
        "LISTENING_REDIS_URL": REDIS_URL,
        "LISTENING_SMTP_HOST": "127.0.0.1",
        "LISTENING_SMTP_TLS": "none",
        "LISTENING_SMTP_SENDER": SENDER,
        "LISTENING_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
        "LISTENING_PUBLIC_RATE_LIMIT": "100000",
        "LISTENING_TOKEN_RATE_LIMIT": str(TOKEN_LIMIT),
    }
    servers = {name: LiveServer(logs / f"serve-{name}.log", env=shared, cli=True) for name in "ab"}
    workers = {}
    for name, server in servers.items():
        env = {**server.env, "LISTENING_SMTP_PORT": str(smtp[name])}
        workers[name] = WorkerProcess(logs / f"worker-{name}.log", env, server.url)
    return servers, workers


async def _open_round(load: Load) -> int:
    now = datetime.now(UTC)
    created = await load.http.post(
        f"{load.urls[0]}/api/rounds",
        headers=load.admin,
        json={
            "name": "Scale-out round",
            "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(days=7)).isoformat(),
            "departments": ["support"],
        },
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


# Only in the PostgreSQL pass (the SQLite pass collects nothing here, so it skips nothing): several
# machines mean PostgreSQL.
if ENGINE == "postgresql":

    async def test_two_servers_and_two_workers_lose_nothing_when_one_of_each_is_killed(
        db, tmp_root, settings
    ):
        from listening.apikeys import create_key
        from listening.delivery.email import message_id
        from listening.tables import Event
        from surveys.accounts import create_user
        from surveys.tables import (
            Invitation,
            Message,
            Response,
            RoundInvitee,
            SelfRatingScore,
            User,
        )
        from surveys.tallies import recompute, stored
        from surveys.tokens import invitation_token

        org = await load_example_org(extra=LINK_TRIGGER + EMAIL_TRIGGER)
        _, ingest_key = await create_key("helpdesk", "ingest")
        employees = [f"rater{n}@example.com" for n in range(EMPLOYEES)]
        for n, email in enumerate(employees):
            await create_user(
                email=email,
                name=f"Rater {n}",
                roles=["employee"],
                password=PASSWORD,
                department_key="support",
            )
        redis = _fresh_redis()
        mailroom = Mailroom()
        smtp = {name: free_port() for name in "ab"}
        relays = [
            Controller(mailroom.handler(name), hostname="127.0.0.1", port=port)
            for name, port in smtp.items()
        ]
        for relay in relays:
            relay.start()
        logs = tmp_root / f"scale-out-{secrets.token_hex(3)}"
        logs.mkdir()
        servers, workers = _start(logs, smtp)
        tasks: list[asyncio.Task] = []
        try:
            await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers.values()))
            async with httpx.AsyncClient(timeout=30) as http:
                load = Load(
                    http,
                    [servers["a"].url, servers["b"].url],
                    {"ingest": ingest_key, "admin": org.admin_key},
                )
                round_id = await _open_round(load)
                probe = link_event(f"{load.run}-probe", f"{load.run}-probe")
                probed = await http.post(
                    f"{load.urls[1]}/api/events", json=probe, headers=load.ingest
                )
                limited = await _shared_token_limit(load, token_of(probed.json()))

                tasks += [asyncio.create_task(load.events(lane)) for lane in range(3)]
                tasks.append(asyncio.create_task(load.batches()))
                tasks += [asyncio.create_task(load.api_answers(lane)) for lane in range(2)]
                tasks.append(asyncio.create_task(load.page_answers()))
                tasks += [asyncio.create_task(load.employee(e)) for e in employees]
                invited = await load.late_joiners(round_id)

                async def busy_enough() -> bool:
                    return (
                        mailroom.held.is_set()
                        and len(load.acked_events) >= 60
                        and len(load.answered) >= 15
                        and len(load.rated_acked) >= EMPLOYEES
                        and len(load.pairs) >= 10
                    )

                await _wait_for(busy_enough, "load on both servers and worker A mid-send", tasks)
                # Requests are in flight on server A, and worker A waits for its relay's answer.
                mailroom.killed.set()
                servers["a"].kill()
                workers["a"].kill()
                events_at_kill, answers_at_kill = len(load.acked_events), len(load.answered)

                async def went_on() -> bool:
                    return (
                        len(load.acked_events) >= events_at_kill + 40
                        and len(load.answered) >= answers_at_kill + 10
                    )

                await _wait_for(went_on, "load going on against server B alone", tasks)
                load.stopped = True
                await asyncio.gather(*tasks)
            mailroom.release.set()
            held_id = mailroom.held_message["Message-ID"]

            async def delivered() -> bool:
                unsent = await Invitation.count().where(
                    (Invitation.channel == "email") & (Invitation.status != "sent")
                )
                queued = await Message.count().where(Message.status != "sent")
                again = any(
                    r.worker == "b" and r.message["Message-ID"] == held_id
                    for r in mailroom.received
                )
                return unsent == 0 and queued == 0 and again

            await _wait_for(delivered, "worker B to deliver everything, worker A's claims too")
            rate_keys = redis.keys("lp:rl:*")
        finally:
            for task in tasks:
                task.cancel()
            for process in [*workers.values(), *servers.values()]:
                process.stop()
            for relay in relays:
                relay.stop()
            redis.flushdb()

        assert not load.server_errors, load.server_errors[:5]
        assert not load.unanswered, load.unanswered[:5]
        # Both servers counted the token's requests in Redis, together: counting alone, neither
        # would refuse any (each saw half). A request whose count Redis was too slow to answer
        # is let through by design, so one of the two over the limit may pass.
        assert limited[:TOKEN_LIMIT] == [200] * TOKEN_LIMIT, limited
        assert 429 in limited[TOKEN_LIMIT:], limited
        assert rate_keys

        # Every acknowledged event is stored exactly once, with exactly one invitation.
        sources = [r["source_id"] for r in await Event.select(Event.source_id)]
        assert len(sources) == len(set(sources))
        assert load.acked_events <= set(sources)
        assert len(load.acked_events) >= events_at_kill + 40
        per_event = Counter(r["event_id"] for r in await Invitation.select(Invitation.event_id))
        assert set(per_event.values()) == {1} and len(per_event) == len(sources)
        # An id sent to both servers at once was stored by one; the other answered duplicate.
        assert len(load.pairs) >= 10
        assert all(sorted(pair) == [200, 202] for pair in load.pairs), load.pairs

        # Every acknowledged survey answer is stored exactly once; the tallies equal the rows.
        invitations = await Invitation.select(
            Invitation.id,
            Invitation.uid,
            Invitation.status,
            Invitation.channel,
            Invitation.customer.email.as_alias("email"),
        )
        responses = [r["invitation"] for r in await Response.select(Response.invitation)]
        assert len(responses) == len(set(responses))
        answered = {r["id"] for r in invitations if r["status"] == "answered"}
        assert set(responses) == answered
        by_token = {invitation_token(settings.secret_key, r["uid"]): r["id"] for r in invitations}
        assert {by_token[t] for t in load.answered | load.answered_before} <= answered
        assert len(load.answered) >= answers_at_kill + 10
        assert await stored() == await recompute()

        # One rating per employee and step, holding one of the scores that employee sent.
        scores = await SelfRatingScore.select(
            SelfRatingScore.score,
            SelfRatingScore.rating.employee.email.as_alias("email"),
            SelfRatingScore.rating.step.key.as_alias("step"),
            SelfRatingScore.rating.round.as_alias("round"),
        )
        rated = Counter((r["email"], r["step"]) for r in scores)
        assert set(rated.values()) == {1}
        assert load.rated_acked <= set(rated) <= set(load.rated)
        assert all(r["score"] in load.rated[(r["email"], r["step"])] for r in scores)
        assert {r["round"] for r in scores} == {round_id}
        # Late joiners were invited once, though both servers invited them at the same moment.
        assert len(invited) == 2 and sum(invited) == LATE_JOINERS
        support = await User.count().where(User.department.key == "support")
        assert await RoundInvitee.count().where(RoundInvitee.round == round_id) == support

        # Every invitation and queued message delivered at least once, and every copy of it
        # under the one Message-ID its row's uid gives (a re-sent copy with another id would
        # match no row, or another row's recipient).
        emailed = [r for r in invitations if r["channel"] == "email"]
        assert {r["status"] for r in emailed} == {"sent"}
        assert load.emailed <= {r["email"] for r in emailed}
        messages = await Message.select(Message.uid, Message.recipient, Message.subject)
        assert await Message.count().where(Message.status != "sent") == 0
        assert len(messages) >= EMPLOYEES + LATE_JOINERS  # round invitations at least
        invited_by = {message_id(r["uid"], SENDER): (r["email"], r["uid"]) for r in emailed}
        queued = {message_id(m["uid"], SENDER): (m["recipient"], m["subject"]) for m in messages}
        assert len(invited_by | queued) == len(emailed) + len(messages)
        for r in mailroom.received:
            if r.message["Message-ID"] in invited_by:
                recipient, uid = invited_by[r.message["Message-ID"]]
                assert f"/s/{invitation_token(settings.secret_key, uid)}\r\n" in _text(r.message)
            else:
                recipient, subject = queued[r.message["Message-ID"]]
                assert r.message["Subject"] == subject
            assert r.recipient == recipient
        assert {r.message["Message-ID"] for r in mailroom.received} == set(invited_by | queued)
        # The invitation held at the kill went out again from worker B, with the same Message-ID.
        assert held_id in invited_by
        sent_again = [r for r in mailroom.received if r.message["Message-ID"] == held_id]
        assert sent_again[0].worker == "a" and not sent_again[0].after_kill
        resent = [r for r in sent_again[1:] if r.worker == "b" and r.after_kill]
        assert resent
        # ... though each copy links to the server of the worker that sent it.
        assert f"{servers['a'].url}/s/" in _text(sent_again[0].message)
        assert f"{servers['b'].url}/s/" in _text(resent[0].message)
        assert "Traceback" not in servers["b"].log() + workers["b"].log()
