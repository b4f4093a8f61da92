"""The delivery worker: expires old invitations, sends due ones and reminders, and queued messages.

`run_once` does one pass with a given clock (what tests and the demo's simulation call);
`run_worker` repeats it until stopped. It runs inside `listening serve` (the app's lifespan) and
alone as `listening worker`; several workers may share one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from listening import outbox
from listening.delivery import email, webhook
from listening.delivery.invitation_mail import invitation_mail
from listening.event_privacy import purge_personal_data
from listening.settings import Settings, public_base_url
from listening.triggers import customer_zone, outside_quiet_hours
from surveys.anonymisation import anonymise_ended_rounds
from surveys.clock import Clock, system_clock
from surveys.password_links import process_reset_requests
from surveys.tokens import invitation_token

log = logging.getLogger(__name__)
CONCURRENCY = 8


@dataclass
class PassStats:
    """What one pass did."""

    expired: int = 0
    sent: int = 0
    reminded: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    messages_sent: int = 0
    errors: list[str] = field(default_factory=list)

    def count_failure(self, outcome: str, error: Exception) -> None:
        """Count a failed delivery: retried later, or `failed` for good."""
        self.errors.append(str(error))
        if outcome == "failed":
            self.failed += 1
        else:
            self.retried += 1

    @property
    def busy(self) -> bool:
        """Whether the pass did any delivery work (then the next pass starts at once)."""
        return bool(self.sent or self.reminded or self.retried or self.failed or self.messages_sent)


@dataclass
class Delivery:
    """What a pass needs: settings, the base URL for links, an HTTP client, the clock."""

    settings: Settings
    base_url: str
    client: httpx.AsyncClient
    clock: Clock

    @property
    def email_enabled(self) -> bool:
        """Without an SMTP host, email stays queued (and is listed for admins)."""
        return bool(self.settings.smtp.host)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this worker can deliver."""
        return ("email", "webhook") if self.email_enabled else ("webhook",)

    def survey_url(self, uid: str) -> str:
        """The invitation's public link."""
        return f"{self.base_url.rstrip('/')}/s/{invitation_token(self.settings.secret_key, uid)}"


async def _deliver_invitation(d: Delivery, due: outbox.DueInvitation, stats: PassStats) -> None:
    now = d.clock()
    if due.opted_out:
        await outbox.cancel(due, "the customer opted out")
        stats.cancelled += 1
        return
    url = d.survey_url(due.uid)
    try:
        if due.channel == "email":
            if not due.email:
                await outbox.cancel(due, "the customer has no email address")
                stats.cancelled += 1
                return
            if await outbox.is_suppressed(due.email):
                await outbox.cancel(due, "the address is suppressed (bounce or complaint)")
                stats.cancelled += 1
                return
            wake = outside_quiet_hours(now, customer_zone(due.time_zone, due.locale))
            if wake != now:
                await outbox.defer(due, wake)
                stats.deferred += 1
                return
            await _send_invitation_email(d, due, url, now)
        else:
            await _send_invitation_webhook(d, due, url, now)
    except (email.SmtpError, webhook.DeliveryError) as exc:
        stats.count_failure(await outbox.mark_failure(due, now, str(exc)), exc)
        return
    await outbox.mark_sent(due, now)
    if due.reminder:
        stats.reminded += 1
    else:
        stats.sent += 1


async def _send_invitation_email(
    d: Delivery, due: outbox.DueInvitation, url: str, now: Any
) -> None:
    mail = await invitation_mail(
        survey_id=due.survey_id,
        locale=due.locale,
        uid=due.uid,
        to=due.email or "",
        name=due.name,
        step_key=due.step_key,
        step_name=due.step_name,
        survey_url=url,
        reminder=due.reminder,
    )
    message = email.invitation_message(mail, sender=d.settings.smtp.sender, now=now)
    await email.send_message(d.settings.smtp, message)


async def _send_invitation_webhook(
    d: Delivery, due: outbox.DueInvitation, url: str, now: Any
) -> None:
    if not due.webhook_url:
        raise webhook.DeliveryError("the trigger has no webhook_url")
    kind = "invitation.reminder" if due.reminder else "invitation"
    payload = {
        "type": kind,
        "invitation": due.uid,
        "trigger": due.trigger_key,
        "survey": due.step_key,
        "survey_name": due.step_name,
        "survey_url": url,
        "unsubscribe_url": f"{url}/unsubscribe",
        "expires_at": due.expires_at.isoformat(),
        "customer": {
            "id": due.external_id,
            "email": due.email,
            "name": due.name,
            "locale": due.locale,
        },
        "attributes": due.attributes,
    }
    await webhook.post_webhook(
        d.client,
        due.webhook_url,
        payload,
        secret=webhook.webhook_secret(d.settings.secret_key),
        delivery_id=due.uid + (".reminder" if due.reminder else ""),
        event=kind,
        timestamp=int(now.timestamp()),
    )


async def _deliver_message(d: Delivery, message: dict[str, Any], stats: PassStats) -> None:
    now = d.clock()
    try:
        if message["channel"] == "email":
            if await outbox.is_suppressed(message["recipient"]):
                await outbox.message_failure(message, now, "the address is suppressed", final=True)
                stats.cancelled += 1
                return
            mime = email.plain_message(
                uid=message["uid"],
                sender=d.settings.smtp.sender,
                to=message["recipient"],
                subject=message["subject"],
                body_text=message["body_text"],
                body_html=message["body_html"],
                now=now,
            )
            await email.send_message(d.settings.smtp, mime)
        else:
            await webhook.post_webhook(
                d.client,
                message["recipient"],
                message["payload"],
                secret=webhook.webhook_secret(d.settings.secret_key),
                delivery_id=message["uid"],
                event=message["kind"],
                timestamp=int(now.timestamp()),
            )
    except (email.SmtpError, webhook.DeliveryError) as exc:
        stats.count_failure(await outbox.message_failure(message, now, str(exc)), exc)
        return
    await outbox.message_sent(message["id"], now)
    stats.messages_sent += 1


async def run_once(
    settings: Settings,
    *,
    base_url: str,
    clock: Clock = system_clock,
    client: httpx.AsyncClient | None = None,
    limit: int = 100,
) -> PassStats:
    """One pass of the worker at `clock()`: expire, then deliver what is due."""
    stats = PassStats()
    own_client = client is None
    http = client or httpx.AsyncClient()
    try:
        d = Delivery(
            settings=settings,
            base_url=public_base_url(settings, base_url),
            client=http,
            clock=clock,
        )
        now = clock()
        stats.expired = await outbox.expire_invitations(now)
        # Reset links asked for since the last pass, so their emails leave in this one.
        await process_reset_requests(base_url=d.base_url, clock=clock)
        limiter = asyncio.Semaphore(CONCURRENCY)

        async def guarded(job: Any) -> None:
            async with limiter:
                await job

        lease = timedelta(seconds=settings.delivery_lease_seconds)
        due = await outbox.claim_invitations(now, channels=d.channels, limit=limit, lease=lease)
        messages = await outbox.claim_messages(now, channels=d.channels, limit=limit, lease=lease)
        jobs = [_deliver_invitation(d, item, stats) for item in due]
        jobs += [_deliver_message(d, m, stats) for m in messages]
        await asyncio.gather(*(guarded(job) for job in jobs))
    finally:
        if own_client:
            await http.aclose()
    return stats


PURGE_EVERY = timedelta(hours=1)


async def purge_when_due(
    settings: Settings, last_purge: datetime | None, *, clock: Clock = system_clock
) -> datetime | None:
    """Apply the retention setting at most once an hour; returns when it last ran."""
    now = clock()
    if settings.retention_days is None or (last_purge and now - last_purge < PURGE_EVERY):
        return last_purge
    removed = await purge_personal_data(older_than_days=settings.retention_days, clock=clock)
    log.info("retention purge: %s", removed)
    return now


async def run_worker(
    settings: Settings,
    *,
    base_url: str,
    clock: Clock = system_clock,
    interval: float = 1.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Run passes until `stop` is set; a busy pass is followed at once by the next."""
    stop = stop or asyncio.Event()
    last_purge: datetime | None = None
    async with httpx.AsyncClient() as client:
        while not stop.is_set():
            try:
                last_purge = await purge_when_due(settings, last_purge, clock=clock)
                # Rounds end by time: sever the ratings of any that ended since the last pass.
                await anonymise_ended_rounds(clock=clock)
                stats = await run_once(settings, base_url=base_url, clock=clock, client=client)
            except Exception:  # the worker outlives a bad pass; the next one retries
                log.exception("delivery pass failed")
                stats = PassStats()
            if stats.busy:
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


def worker_lifespan(
    settings: Settings, *, listen_url: str | None, clock: Clock = system_clock
) -> Any:
    """An app lifespan that runs the worker beside the server and stops it at shutdown.

    Links use LISTENING_BASE_URL, else the address the server listens on.
    """
    base_url = public_base_url(settings, listen_url)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_worker(settings, base_url=base_url, clock=clock, stop=stop), name="delivery"
        )
        try:
            yield
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, timeout=15)
            except TimeoutError:
                task.cancel()

    return lifespan


async def run_standalone(
    settings: Settings, *, base_url: str, interval: float = 1.0, once: bool = False
) -> PassStats | None:
    """`listening worker`: run until SIGINT or SIGTERM (or one pass with `once`)."""
    import signal

    from piccolo.engine.postgres import PostgresEngine

    from surveys.tables import Invitation

    engine = Invitation._meta.db
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=4)
    try:
        if once:
            return await run_once(settings, base_url=base_url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, base_url=base_url, interval=interval, stop=stop)
        return None
    finally:
        if isinstance(engine, PostgresEngine):
            await engine.close_connection_pool()
