"""Delivery against real receivers: an SMTP server and a webhook endpoint on loopback."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from receivers import SmtpServer, WebhookServer
from trigger_org import NOW, FakeClock, event, invitation_for_url, load_org

from listening.delivery.webhook import verify, webhook_secret
from listening.ingest.drivers import ingest_events
from listening.settings import SmtpSettings
from listening.worker import run_once
from surveys.tables import Invitation, Message

BASE = "http://feedback.test"

EMAIL_TRIGGER = """
[[triggers]]
key = "mail"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "email"
"""


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
        sender="Listening Post <feedback@example.com>",
    )
    # No LISTENING_BASE_URL: links use the address each pass is given, as `serve` gives its own.
    return dataclasses.replace(settings, smtp=smtp, base_url=None)


def webhook_trigger(url: str) -> str:
    return f"""
[[triggers]]
key = "hook"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "webhook"
webhook_url = "{url}"
"""


async def ingest(settings, clock, *events):
    return await ingest_events(list(events), secret_key=settings.secret_key, clock=clock)


def parts(message) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


async def test_email_invitation_reaches_the_smtp_server_with_links_and_headers(settings):
    await load_org(EMAIL_TRIGGER)
    clock = FakeClock()
    await ingest(settings, clock, event(1, email="ann@example.com", name="Ann <Admin>"))
    with SmtpServer() as smtp:
        stats = await run_once(with_smtp(settings, smtp.port), base_url=BASE, clock=clock)
        assert stats.sent == 1
        (message,) = smtp.inbox.messages
        assert smtp.inbox.recipients == [["ann@example.com"]]
    row = await Invitation.select().first()
    assert row["status"] == "sent" and row["sent_at"] == NOW
    assert message["Message-ID"] == f"<{row['uid']}@example.com>"
    assert message["Subject"] == "How was it: Your request is resolved?"
    text, html = parts(message)
    survey_url = next(
        w
        for w in text.split()
        if w.startswith(f"{BASE}/s/") and "?" not in w and not w.endswith("/unsubscribe")
    )
    found = await invitation_for_url(survey_url)
    assert found is not None and found["id"] == row["id"]
    # The first rating question's scale as one-click links (CSAT 1–5), in both parts.
    for score in range(1, 6):
        assert f"{survey_url}?answer={score}" in text
        assert f'href="{survey_url}?answer={score}"' in html
    assert f"{survey_url}?answer=6" not in text
    assert "How satisfied are you with how we resolved it?" in text
    assert "Very dissatisfied" in text and "Very satisfied" in text
    assert "Ann &lt;Admin&gt;" in html  # the customer's name is escaped in HTML
    assert message["List-Unsubscribe"] == f"<{survey_url}/unsubscribe>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_one_click_links_follow_the_locale_and_the_scale(settings):
    await load_org(EMAIL_TRIGGER.replace("ticket-resolved", "order-delivered"))
    clock = FakeClock()
    await ingest(settings, clock, event(1, email="b@example.com", locale="de-DE"))
    with SmtpServer() as smtp:
        await run_once(with_smtp(settings, smtp.port), base_url=BASE, clock=clock)
        (message,) = smtp.inbox.messages
    text, _ = parts(message)
    assert "?answer=0" in text and "?answer=10" in text  # NPS 0–10
    assert "How likely are you to recommend us?" in text


async def test_without_smtp_email_stays_queued_and_admins_see_the_link(settings, admin_client):
    await load_org(EMAIL_TRIGGER)
    clock = FakeClock()
    await ingest(settings, clock, event(1, email="ann@example.com"))
    stats = await run_once(settings, base_url=BASE, clock=clock)  # no SMTP host configured
    assert stats.sent == 0
    row = await Invitation.select().first()
    assert row["status"] == "scheduled" and row["attempts"] == 0
    listed = await admin_client.get("/api/invitations", params={"channel": "email"})
    assert listed.status_code == 200
    (item,) = listed.json()
    assert item["status"] == "scheduled" and item["email"] == "ann@example.com"
    found = await invitation_for_url(item["survey_url"])
    assert found["uid"] == row["uid"]


async def test_invitation_list_needs_an_admin(client, db, ingest_key):
    assert (await client.get("/api/invitations")).status_code == 401
    response = await client.get(
        "/api/invitations", headers={"Authorization": f"Bearer {ingest_key}"}
    )
    assert response.status_code == 403


async def test_webhook_is_signed_and_carries_a_stable_delivery_id(settings):
    with WebhookServer() as hook:
        await load_org(webhook_trigger(hook.url))
        clock = FakeClock()
        await ingest(
            settings, clock, event(1, email="ann@example.com", attributes={"tier": "gold"})
        )
        stats = await run_once(settings, base_url=BASE, clock=clock)
        assert stats.sent == 1
        ((headers, body),) = hook.requests
    row = await Invitation.select().first()
    secret = webhook_secret(settings.secret_key)
    assert verify(
        secret,
        headers["x-listening-timestamp"],
        body,
        headers["x-listening-signature"],
        now=NOW.timestamp(),
    )
    assert not verify(
        secret,
        headers["x-listening-timestamp"],
        body + b" ",
        headers["x-listening-signature"],
        now=NOW.timestamp(),
    )
    assert not verify(
        "wrong",
        headers["x-listening-timestamp"],
        body,
        headers["x-listening-signature"],
        now=NOW.timestamp(),
    )
    assert headers["x-listening-delivery"] == row["uid"]
    payload = json.loads(body)
    assert payload["customer"]["id"] == "c1"
    assert payload["attributes"] == {"tier": "gold"}
    assert (await invitation_for_url(payload["survey_url"]))["id"] == row["id"]
    assert row["status"] == "sent"


async def test_failing_webhook_is_retried_with_backoff_then_failed(settings):
    with WebhookServer(status=500) as hook:
        await load_org(webhook_trigger(hook.url))
        clock = FakeClock()
        await ingest(settings, clock, event(1))
        seen = []
        for _ in range(5):
            await run_once(settings, base_url=BASE, clock=clock)
            row = await Invitation.select().first()
            seen.append((row["attempts"], row["status"]))
            # Nothing happens before the backoff has passed.
            await run_once(settings, base_url=BASE, clock=clock)
            if row["next_attempt_at"]:
                clock.now = max(clock.now, row["next_attempt_at"])
        assert len(hook.requests) == 5
        assert {h["x-listening-delivery"] for h, _ in hook.requests} == {row["uid"]}
    assert seen == [
        (1, "scheduled"),
        (2, "scheduled"),
        (3, "scheduled"),
        (4, "scheduled"),
        (5, "failed"),
    ]
    assert "500" in row["last_error"]
    assert clock.now - NOW == timedelta(seconds=30 + 120 + 480 + 1920)


async def test_unreachable_webhook_counts_as_a_failed_attempt(settings):
    from receivers import free_port

    await load_org(webhook_trigger(f"http://127.0.0.1:{free_port()}/nobody"))
    clock = FakeClock()
    await ingest(settings, clock, event(1))
    stats = await run_once(settings, base_url=BASE, clock=clock)
    assert stats.retried == 1
    row = await Invitation.select().first()
    assert row["attempts"] == 1 and row["status"] == "scheduled"
    assert row["next_attempt_at"] == NOW + timedelta(seconds=30)


async def test_suppressed_address_is_never_emailed(settings, client, suppress_key):
    await load_org(EMAIL_TRIGGER)
    clock = FakeClock()
    await ingest(settings, clock, event(1, email="Bounce@Example.com"))
    response = await client.post(
        "/api/suppressions",
        json={"email": "bounce@example.com", "reason": "bounce"},
        headers={"Authorization": f"Bearer {suppress_key}"},
    )
    assert response.status_code == 201, response.text
    again = await client.post(
        "/api/suppressions",
        json={"email": "BOUNCE@example.com"},
        headers={"Authorization": f"Bearer {suppress_key}"},
    )
    assert again.status_code == 201
    with SmtpServer() as smtp:
        stats = await run_once(with_smtp(settings, smtp.port), base_url=BASE, clock=clock)
        assert smtp.inbox.messages == []
    assert stats.cancelled == 1
    row = await Invitation.select().first()
    assert row["status"] == "failed" and "suppressed" in row["last_error"]


@pytest.mark.parametrize(
    ("body", "field"), [({"email": "not-an-address"}, "email"), ({"reason": "x"}, "email")]
)
async def test_bad_suppression_is_refused(client, db, suppress_key, body, field):
    response = await client.post(
        "/api/suppressions", json=body, headers={"Authorization": f"Bearer {suppress_key}"}
    )
    assert response.status_code in (400, 422)
    # Litestar names a missing field in the message of `extra` (its key says "data").
    assert f"`{field}`" in response.text or response.json()["field"] == field


async def test_suppressions_need_a_key(client, db):
    response = await client.post("/api/suppressions", json={"email": "a@example.com"})
    assert response.status_code == 401


async def test_queued_messages_are_sent_by_email_and_webhook(settings):
    import uuid

    email_uid, hook_uid = str(uuid.uuid4()), str(uuid.uuid4())
    with SmtpServer() as smtp, WebhookServer() as hook:
        await Message.insert(
            Message(
                uid=email_uid,
                kind="password_set",
                channel="email",
                recipient="eve@example.com",
                subject="Set your password",
                body_text="Hello Eve",
                body_html="<p>Hello Eve</p>",
                status="queued",
                next_attempt_at=NOW,
                created_at=NOW,
            ),
            Message(
                uid=hook_uid,
                kind="follow_up",
                channel="webhook",
                recipient=hook.url,
                payload=json.dumps({"score": 1}),
                status="queued",
                next_attempt_at=NOW,
                created_at=NOW,
            ),
        )
        stats = await run_once(with_smtp(settings, smtp.port), base_url=BASE, clock=FakeClock())
        assert stats.messages_sent == 2
        (mail,) = smtp.inbox.messages
        ((headers, body),) = hook.requests
    assert mail["Message-ID"] == f"<{email_uid}@example.com>"
    assert mail["Subject"] == "Set your password"
    assert json.loads(body) == {"score": 1}
    assert headers["x-listening-delivery"] == hook_uid
    assert headers["x-listening-event"] == "follow_up"
    rows = await Message.select(Message.status, Message.sent_at)
    assert {r["status"] for r in rows} == {"sent"}
