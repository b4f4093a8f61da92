"""Lifting an opt-out: the privacy desk emails the customer a signed link, and only they lift it
on its page (GET asks, POST lifts); the link works once and for a week; both steps audited."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from conftest import PASSWORD, app_with, login
from customer_language_data import english_in, load_demo
from rating_org import Clock as MovingClock
from receivers import SmtpServer
from survey_data import load_org as load_survey_org
from survey_data import make_invitation
from trigger_org import TRIGGERS, event_json, load_org

from listening.settings import SmtpSettings
from listening.worker import run_once
from surveys.audit import person_ref
from surveys.clock import Clock, system_clock
from surveys.customer_language import customer_wording
from surveys.journey_file import load_journey
from surveys.opt_in import KIND, link_token, send_opt_in_link
from surveys.organisation import Organisation
from surveys.tables import AuditEntry, Customer, Message, Suppression
from tests.test_customer_language import assert_german, visible

HTML = {"accept": "text/html"}
BASE = "http://testserver.local"
ANNA = {"id": "anna-k", "email": "anna@example.com", "name": "Anna"}


async def post(client: httpx.AsyncClient, path: str, data: dict) -> httpx.Response:
    return await client.post(path, data={"_csrf_token": client.cookies.get("lp_csrf"), **data})


async def ingest(client: httpx.AsyncClient, key: str, n: int, customer: dict) -> dict:
    r = await client.post(
        "/api/events",
        json=event_json(n, customer=customer),
        headers={"authorization": f"Bearer {key}"},
    )
    assert r.status_code == 202, r.text
    return r.json()["invitations"][0]


async def opted_out_at(external_id: str) -> datetime | None:
    row = await Customer.select(Customer.opted_out_at).where(Customer.external_id == external_id)
    return row[0]["opted_out_at"]


async def send_link(client: httpx.AsyncClient, external_id: str) -> str:
    """Press the desk's button; returns the path of the link in the queued email."""
    r = await post(client, "/admin/privacy/opt-outs/link", {"customer": external_id})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/admin/privacy?done=link_sent#notice"
    (message,) = await Message.select().where(Message.kind == KIND)
    return re.search(r"http://testserver\.local(/opt-in/\S+)", message["body_text"])[1]


def desk_error(answer: httpx.Response) -> str:
    """The refusal the desk shows for the opt-in button: in its customer's row, or on top."""
    (shown,) = re.findall(r'<p class="error" role="alert"[^>]*>([^<]*)<', answer.text)
    assert answer.text.count('id="opt-in-error"') == 1  # where the button's answer opens
    return shown.replace("&#39;", "'")


async def deliver(settings, clock: Clock = system_clock, sent: int = 1) -> list:
    """One worker pass through a real SMTP server on loopback; returns what it received."""
    smtp = SmtpSettings(
        host="127.0.0.1", port=0, username=None, password=None, tls="none", sender="lp@example.com"
    )
    with SmtpServer() as server:
        smtp = dataclasses.replace(smtp, port=server.port)
        stats = await run_once(
            dataclasses.replace(settings, smtp=smtp), base_url=settings.base_url, clock=clock
        )
        assert stats.messages_sent == len(server.inbox.messages) == sent
        return server.inbox.messages


async def test_the_customer_lifts_it_through_the_emailed_link(admin_client, ingest_key, settings):
    # No contact-frequency rule, so only the opt-out can hold an invitation back.
    await load_org(TRIGGERS + 'quarantine = "0s"\n')
    await ingest(admin_client, ingest_key, 1, ANNA)
    assert (await post(admin_client, "/admin/privacy/opt-outs", {"customer": "anna-k"})).is_redirect
    assert (await ingest(admin_client, ingest_key, 2, {"id": "anna-k"}))["status"] == "opted_out"

    desk = await admin_client.get("/admin/privacy", headers=HTML)
    assert "Send a link to opt back in" in desk.text
    found = await admin_client.get("/admin/privacy?q=anna%40example.com", headers=HTML)
    assert 'Send a link to opt back in<span class="vh"> (customer anna-k)' in found.text
    assert "An admin never lifts an opt-out: only the customer does." in desk.text
    path = await send_link(admin_client, "anna-k")
    done = await admin_client.get("/admin/privacy?done=link_sent", headers=HTML)
    assert "will get an email with a link to opt back in (valid 7 days)" in done.text

    (mail,) = await deliver(settings)
    assert mail["To"] == "anna@example.com"
    assert mail["Subject"] == "Your link to receive surveys again"
    text = mail.get_body(("plain",)).get_content()
    assert "Hello Anna," in text and f"http://testserver.local{path}" in text
    assert "the link works for 7 days" in text
    assert f'href="http://testserver.local{path}"' in mail.get_body(("html",)).get_content()

    # Opening the link (as a mail scanner would) changes nothing.
    page = await admin_client.get(path, headers=HTML)
    assert page.status_code == 200 and page.text.count("<button") == 1
    assert "You are not receiving our surveys at the moment" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert await opted_out_at("anna-k") is not None

    # Without the form token the press is refused and nothing changes.
    refused = await admin_client.post(path, data={})
    assert refused.status_code == 403 and "Nothing has changed yet" in refused.text
    assert await opted_out_at("anna-k") is not None

    lifted = await post(admin_client, path, {})
    assert lifted.status_code == 200
    assert "You will receive surveys again" in lifted.text
    assert await opted_out_at("anna-k") is None
    assert (await ingest(admin_client, ingest_key, 3, {"id": "anna-k"}))["status"] == "scheduled"

    # Once used, the link is spent: HTML pages answering 410, nothing changed.
    for again in (await admin_client.get(path, headers=HTML), await post(admin_client, path, {})):
        assert again.status_code == 410
        assert again.headers["content-type"].startswith("text/html")
        assert "This link has been used" in again.text

    entries = await AuditEntry.select().where(AuditEntry.kind == "opt_out").order_by(AuditEntry.id)
    ref = person_ref("anna-k", settings.secret_key)
    assert [(e["actor"], e["action"], e["subject"], e["person"]) for e in entries] == [
        ("admin@example.com", "add", ref, ref),
        ("admin@example.com", "send_link", ref, ref),
        ("customer", "remove", ref, ref),
    ]
    assert all("anna" not in str(e).lower() for e in entries)


async def test_the_desk_refuses_what_it_cannot_send(admin_client, ingest_key):
    await load_org()
    await ingest(admin_client, ingest_key, 1, {"id": "no-mail"})
    await ingest(admin_client, ingest_key, 2, {"id": "bounced", "email": "b@example.com"})
    await ingest(admin_client, ingest_key, 3, {"id": "happy", "email": "h@example.com"})
    for customer in ("no-mail", "bounced"):
        await post(admin_client, "/admin/privacy/opt-outs", {"customer": customer})
    await Suppression(email="b@example.com", reason="bounce", created_at=datetime.now(UTC)).save()
    page = await admin_client.get("/admin/privacy", headers=HTML)
    assert page.text.count("Send a link to opt back in<") == 1  # only who has an address
    assert "no address: no link can be sent" in page.text
    cases = {
        "no-mail": (422, "This customer has no email address to send a link to."),
        "bounced": (409, "This customer's address is suppressed: no email reaches it."),
        "happy": (409, "This customer has not opted out."),
        "nobody": (404, "No customer has this id."),
    }
    for customer, (status, message) in cases.items():
        r = await post(admin_client, "/admin/privacy/opt-outs/link", {"customer": customer})
        assert r.status_code == status, customer
        assert desk_error(r) == message
    assert not await Message.exists().where(Message.kind == KIND)
    assert not await AuditEntry.exists().where(AuditEntry.action == "send_link")


async def test_tampered_expired_and_replaced_links_are_refused(admin_client, ingest_key, settings):
    await load_org()
    await ingest(admin_client, ingest_key, 1, ANNA)
    await post(admin_client, "/admin/privacy/opt-outs", {"customer": "anna-k"})
    path = await send_link(admin_client, "anna-k")
    token = path.rsplit("/", 1)[1]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    row = await Customer.select().where(Customer.external_id == "anna-k").first()
    other = link_token(settings.secret_key, row["id"] + 1, row["opted_out_at"], datetime.now(UTC))
    for bad in (forged, "1.2.3", "x" * 500, other.replace(".", "9", 1)):
        r = await admin_client.get(f"/opt-in/{bad}", headers=HTML)
        assert r.status_code == 404 and "This link is not valid." in r.text, bad
        assert (await post(admin_client, f"/opt-in/{bad}", {})).status_code == 404
    expired = link_token(
        settings.secret_key, row["id"], row["opted_out_at"], datetime.now(UTC) - timedelta(hours=1)
    )
    r = await post(admin_client, f"/opt-in/{expired}", {})
    assert r.status_code == 410 and "This link is no longer valid" in r.text
    # Opted out again after the link was sent: the old link does not lift the new opt-out.
    later = row["opted_out_at"] + timedelta(seconds=5)
    await Customer.update({Customer.opted_out_at: later}).where(Customer.id == row["id"])
    assert (await post(admin_client, path, {})).status_code == 410
    assert await opted_out_at("anna-k") == later


async def test_erasing_the_customer_blanks_the_link_email(admin_client, ingest_key):
    await load_org()
    await ingest(admin_client, ingest_key, 1, ANNA)
    await post(admin_client, "/admin/privacy/opt-outs", {"customer": "anna-k"})
    path = await send_link(admin_client, "anna-k")
    erased = await post(
        admin_client, "/admin/privacy/erase", {"customer": "anna-k", "confirm": "anna-k"}
    )
    assert erased.status_code == 303
    (message,) = await Message.select().where(Message.kind == KIND)
    assert message["recipient"] == "" and message["body_text"] == ""
    assert message["status"] == "failed"
    assert (await admin_client.get(path, headers=HTML)).status_code == 404


async def test_a_german_customer_reads_german(admin_client, settings):
    await load_demo()
    now = datetime.now(UTC)
    await Customer(
        external_id="k-7",
        email="klara@example.de",
        name="Klara",
        locale="de-CH",
        opted_out_at=now,
        created_at=now,
    ).save()
    path = await send_link(admin_client, "k-7")
    (message,) = await Message.select().where(Message.kind == KIND)
    assert message["subject"] == "Ihr Link, um wieder Umfragen zu erhalten"
    text = message["body_text"]
    assert text.splitlines()[0] == "Example Shop" and "Guten Tag Klara," in text
    assert "der Link gilt 7 Tage" in text
    assert english_in(text) == set() and english_in(visible(message["body_html"])) == set()
    page = await admin_client.get(path, headers=HTML)
    assert_german(page)
    assert "Wieder Umfragen erhalten" in page.text
    lifted = await post(admin_client, path, {})
    assert_german(lifted)
    assert "Sie erhalten wieder Umfragen" in lifted.text
    used = await admin_client.get(path, headers=HTML)
    assert used.status_code == 410
    assert_german(used)


async def test_the_language_is_the_customers_then_their_last_invitations_then_the_default(
    settings, db
):
    await load_survey_org()
    await make_invitation(settings.secret_key, customer="by-invitation", locale="fr-CA")
    await make_invitation(settings.secret_key, customer="own", locale="fr")
    await Customer.update({Customer.locale: "de-AT"}).where(Customer.external_id == "own")
    await make_invitation(settings.secret_key, customer="unknown", locale="it")
    ids = {r["external_id"]: r["id"] for r in await Customer.select()}
    spanish = Organisation(default_locale="es")
    assert (await customer_wording(ids["by-invitation"], spanish)).lang == "fr"
    assert (await customer_wording(ids["own"], spanish)).lang == "de"
    assert (await customer_wording(ids["unknown"], spanish)).lang == "es"


@asynccontextmanager
async def desk_of(app, admin_user) -> AsyncIterator[httpx.AsyncClient]:
    """An admin's client on `app` (an app reading the test's clock)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        await login(client, admin_user.email, PASSWORD)
        yield client


async def opted_out(external_id: str, email: str, at: datetime) -> None:
    await Customer(external_id=external_id, email=email, opted_out_at=at, created_at=at).save()


async def test_an_address_gets_one_link_per_cooldown(settings, admin_user):
    await load_org()
    # The desk speaks the organisation's time, as the rest of the console does.
    await load_journey('[organisation]\nname = "Corp"\ntime_zone = "Europe/Zurich"\n')
    clock = MovingClock(datetime(2026, 12, 1, 9, 0, 30, tzinfo=UTC))
    await opted_out("anna-k", "anna@example.com", clock() - timedelta(days=3))
    # Another customer record with the same address, spelled otherwise: the address counts.
    await opted_out("anna-shop", "Anna@Example.com", clock() - timedelta(days=2))
    link = "/admin/privacy/opt-outs/link"
    async with desk_of(app_with(settings, clock), admin_user) as desk:
        assert (
            "One address gets at most one link\nevery 10 minutes."
            in (await desk.get("/admin/privacy", headers=HTML)).text
        )
        assert (await post(desk, link, {"customer": "anna-k"})).status_code == 303
        (mail,) = await deliver(settings, clock)
        assert mail["To"] == "anna@example.com"

        clock.advance(minutes=4)
        for customer in ("anna-k", "anna-shop", "anna-k"):
            again = await post(desk, link, {"customer": customer})
            assert again.status_code == 429, customer
            assert again.headers["content-type"].startswith("text/html")
            assert again.headers["retry-after"] == str(6 * 60)
            assert desk_error(again) == (
                "A link was sent to this customer's address at 2026-12-01 10:00 Europe/Zurich "
                "time; a new one can be sent from 2026-12-01 10:11 Europe/Zurich time."
            )
        assert await deliver(settings, clock, sent=0) == []
        assert await Message.count().where(Message.kind == KIND) == 1

        clock.advance(minutes=6)  # 09:10:30, ten minutes after the first link
        assert (await post(desk, link, {"customer": "anna-shop"})).status_code == 303
        (mail,) = await deliver(settings, clock)
        assert mail["To"] == "Anna@Example.com"

    sent = await AuditEntry.select(AuditEntry.person, AuditEntry.at).where(
        AuditEntry.action == "send_link"
    )
    assert sorted((e["person"], e["at"]) for e in sent) == sorted(
        [
            (
                person_ref("anna-k", settings.secret_key),
                datetime(2026, 12, 1, 9, 0, 30, tzinfo=UTC),
            ),
            (person_ref("anna-shop", settings.secret_key), clock()),
        ]
    )


async def test_the_cooldown_is_a_setting(settings, admin_user):
    await load_org()
    clock = MovingClock()
    await opted_out("anna-k", "anna@example.com", clock())
    quick = dataclasses.replace(settings, opt_in_link_cooldown_seconds=60)
    link = "/admin/privacy/opt-outs/link"
    async with desk_of(app_with(quick, clock), admin_user) as desk:
        page = await desk.get("/admin/privacy", headers=HTML)
        assert "One address gets at most one link\nevery 1 minute." in page.text
        assert (await post(desk, link, {"customer": "anna-k"})).status_code == 303
        clock.advance(seconds=59)
        assert (await post(desk, link, {"customer": "anna-k"})).status_code == 429
        clock.advance(seconds=1)
        assert (await post(desk, link, {"customer": "anna-k"})).status_code == 303
    assert await Message.count().where(Message.kind == KIND) == 2


async def test_two_presses_at_once_queue_one_link(settings, db):
    await load_org()
    now = datetime.now(UTC)
    await opted_out("anna-k", "anna@example.com", now)
    presses = [
        send_opt_in_link(
            "anna-k",
            actor="admin@example.com",
            secret_key=settings.secret_key,
            base_url=BASE,
            clock=lambda: now,
        )
        for _ in range(2)
    ]
    outcomes = await asyncio.gather(*presses, return_exceptions=True)
    assert sorted(type(o).__name__ for o in outcomes) == ["SentRecently", "datetime"]
    assert await Message.count().where(Message.kind == KIND) == 1
    assert await AuditEntry.count().where(AuditEntry.action == "send_link") == 1
