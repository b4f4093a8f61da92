"""Links in emails and webhooks start with the configured base URL, never with a request's Host;
unknown Host headers are refused; `serve` beyond loopback needs LISTENING_BASE_URL."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import timedelta

import httpx
import pytest
from click.testing import CliRunner
from conftest import PASSWORD

from listening.app import create_app
from listening.settings import allowed_hosts, load_settings, public_base_url
from surveys.accounts import create_user
from surveys.tables import Message

BASE = "https://feedback.example.com"
EVIL = "evil.example"


def _links(text: str) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>)]+", text)


async def _message_links() -> list[str]:
    found = []
    for row in await Message.select():
        payload = row["payload"]
        text = row["body_text"] + row["body_html"] + (payload if isinstance(payload, str) else "")
        found += _links(text if isinstance(payload, str) else text + json.dumps(payload))
    return found


def _app(settings, clock=None, **changes):
    configured = dataclasses.replace(settings, **changes)
    extra = {"clock": clock} if clock else {}
    return create_app(configured, manage_pool=False, **extra)


async def test_an_unknown_host_header_is_refused(settings, admin_user):
    app = _app(settings, base_url=BASE)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{EVIL}") as evil:
        assert (await evil.get("/login")).status_code == 400
        forgot = await evil.post("/password/forgot", data={"email": admin_user.email})
        assert forgot.status_code == 400
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as good:
        assert (await good.get("/login")).status_code == 200
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:9999") as local:
        assert (await local.get("/health")).status_code == 200  # any port
    async with httpx.AsyncClient(transport=transport, base_url="http://evil.example:443") as c:
        refused = await c.get("/api/session")
        assert refused.status_code == 400 and refused.json()["field"] == "host"
    assert await Message.count() == 0


def test_allowed_hosts_default_to_the_base_url_host_and_loopback():
    settings = load_settings({"LISTENING_SECRET_KEY": "k" * 40, "LISTENING_BASE_URL": BASE})
    assert allowed_hosts(settings) == ["feedback.example.com", "localhost", "127.0.0.1"]
    local = dataclasses.replace(settings, base_url=None)
    assert allowed_hosts(local, "http://127.0.0.1:8123") == ["127.0.0.1", "localhost"]
    assert public_base_url(local, "http://127.0.0.1:8123") == "http://127.0.0.1:8123"
    assert public_base_url(local) == "http://127.0.0.1:8000"
    chosen = load_settings(
        {"LISTENING_SECRET_KEY": "k" * 40, "LISTENING_ALLOWED_HOSTS": "a.example, B.example:8443"}
    )
    assert allowed_hosts(chosen) == ["a.example", "b.example"]


async def test_links_ignore_the_host_header_in_every_message(settings, admin_key):
    """Even with a Host the server accepts, every link starts with the base URL."""
    from rating_org import Clock, load_org, make_employee

    await load_org()
    await make_employee(1)
    admin = await create_user(
        email="admin@example.com", name="Ada", roles=["admin"], password=PASSWORD
    )
    clock = Clock()
    app = _app(
        settings,
        clock,
        base_url=BASE,
        allowed_hosts=(EVIL, "testserver.local"),
        follow_up_webhook_url="http://127.0.0.1:9/hook",
    )
    transport = httpx.ASGITransport(app=app)
    headers = {"authorization": f"Bearer {admin_key}"}
    # https, as the base URL: its cookies are Secure.
    async with httpx.AsyncClient(transport=transport, base_url=f"https://{EVIL}") as evil:
        # Password reset, asked for anonymously.
        await evil.get("/password/forgot")
        forgot = await evil.post(
            "/password/forgot",
            data={"email": admin.email, "_csrf_token": evil.cookies.get("lp_csrf")},
        )
        assert forgot.status_code == 200
        # An account created by an admin: its set-password link.
        created = await evil.post(
            "/api/users",
            json={"email": "nia@example.com", "name": "Nia", "roles": ["executive"]},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        # A rating round: its employees' invitations.
        opened = await evil.post(
            "/api/rounds",
            json={
                "name": "Spring",
                "starts_at": (clock() - timedelta(hours=1)).isoformat(),
                "ends_at": (clock() + timedelta(days=7)).isoformat(),
                "departments": ["ops"],
            },
            headers=headers,
        )
        assert opened.status_code == 201, opened.text
    await _process_reset_requests(clock)
    kinds = {row["kind"] for row in await Message.select(Message.kind)}
    assert {"password_reset", "password_set"} <= kinds, kinds
    links = await _message_links()
    assert len(links) >= 3
    assert all(link.startswith(BASE + "/") for link in links), links
    assert not any(EVIL in link for link in links)


async def test_survey_links_and_follow_up_notices_ignore_the_host_header(settings, ingest_key):
    from survey_data import fixed_clock, load_org, make_invitation

    await load_org()
    app = _app(
        settings,
        fixed_clock(),
        base_url=BASE,
        allowed_hosts=(EVIL,),
        follow_up_webhook_url="http://127.0.0.1:9/hook",
    )
    transport = httpx.ASGITransport(app=app)
    token, _ = await make_invitation(settings.secret_key)
    async with httpx.AsyncClient(transport=transport, base_url=f"https://{EVIL}") as evil:
        answered = await evil.post(f"/api/responses/{token}", json={"answers": {"csat": 1}})
        assert answered.status_code == 201 and answered.json()["follow_ups"] == 1
        page = await evil.get("/f/ticket-resolved", headers={"accept": "text/html"})
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
        posted = await evil.post(
            "/f/ticket-resolved",
            data={"_csrf_token": csrf, "csat": "1", "comment": "Slow"},
            headers={"accept": "text/html"},
        )
        assert posted.status_code == 200, posted.text
    hooks = await Message.select().where(Message.channel == "webhook")
    assert len(hooks) == 2
    links = await _message_links()
    assert links and all(link.startswith(BASE + "/") for link in links), links


async def _process_reset_requests(clock) -> None:
    """Reset links are issued by the delivery worker's pass, as the server runs it."""
    from surveys.password_links import process_reset_requests

    await process_reset_requests(base_url=BASE, clock=clock)


@pytest.mark.parametrize(
    ("host", "refused"),
    [("0.0.0.0", True), ("192.0.2.10", True), ("127.0.0.1", False), ("localhost", False)],
)
def test_serve_beyond_loopback_needs_a_base_url(monkeypatch, host, refused):
    from listening import cli
    from listening.settings import get_settings

    monkeypatch.delenv("LISTENING_BASE_URL", raising=False)
    get_settings.cache_clear()
    started = []
    monkeypatch.setattr(cli, "_serve", lambda *a, **k: started.append(a))
    monkeypatch.setattr(cli, "_run", lambda coro: coro.close())
    try:
        result = CliRunner().invoke(cli.main, ["serve", "--host", host])
    finally:
        get_settings.cache_clear()
    if refused:
        assert result.exit_code != 0
        assert "LISTENING_BASE_URL is required" in result.output
        assert not started
    else:
        assert result.exit_code == 0, result.output
        assert started
