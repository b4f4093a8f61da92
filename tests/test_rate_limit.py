"""Rate limits: per address for feedback posts and logins, per token for survey links,
429 with Retry-After, shared through Redis by several app instances."""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets

import httpx
import pytest
from conftest import app_with
from survey_data import JOURNEY, NOW, fixed_clock, load_org, make_invitation

from listening.rate_limit import MemoryCounter, RedisCounter, client_address
from surveys.journey_file import load_journey

REDIS_URL = "redis://127.0.0.1:6379/0"


def scope(peer: str, forwarded: str | None = None) -> dict:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "client": (peer, 5000), "headers": headers}


def test_forwarded_for_is_believed_only_from_a_trusted_proxy():
    trusted = [ipaddress.ip_network("10.0.0.0/8")]
    assert client_address(scope("203.0.113.9", "1.2.3.4"), trusted) == "203.0.113.9"
    assert client_address(scope("10.0.0.2", "1.2.3.4"), trusted) == "1.2.3.4"
    # A client cannot pick its key by prepending addresses: the rightmost untrusted hop wins.
    assert client_address(scope("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.7"), trusted) == "1.2.3.4"
    assert client_address(scope("10.0.0.2", "1.2.3.4"), []) == "10.0.0.2"


async def test_memory_window_resets_after_a_minute():
    now = [999_980.0]  # 20 s into a minute (999,960 = 16,666 × 60)
    counter = MemoryCounter(clock=lambda: now[0])
    decisions = [await counter.hit("k", 3) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after == 40
    now[0] += 40
    assert (await counter.hit("k", 3)).allowed


async def test_redis_counter_is_atomic_under_concurrency():
    import asyncio

    counter = RedisCounter(REDIS_URL)
    key = "test:" + secrets.token_hex(8)
    try:
        decisions = await asyncio.gather(*(counter.hit(key, 10) for _ in range(40)))
    finally:
        await counter.close()
    assert sum(d.allowed for d in decisions) == 10


def app_for(settings):
    return app_with(settings, fixed_clock())


def own_app(settings):
    """An app of its own: two instances share limits only through Redis, and are shut down."""
    from listening.app import create_app

    return create_app(settings, clock=fixed_clock(), manage_pool=False)


def client_of(app, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(peer, 40000)),
        base_url="http://testserver.local",
        headers={"accept": "application/json"},
    )


@pytest.fixture
async def org(db):
    await load_org()


async def test_feedback_posts_limited_per_address(settings, org):
    app = app_for(settings)
    one, other = client_of(app, "198.51.100.1"), client_of(app, "198.51.100.2")
    for _ in range(settings.public_rate_limit):
        assert (await one.post("/f/ticket-resolved", data={})).status_code == 403
    limited = await one.post("/f/ticket-resolved", data={})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert (await other.post("/f/ticket-resolved", data={})).status_code == 403
    await one.aclose()
    await other.aclose()


async def test_login_limited_per_address(settings, org):
    app = app_for(dataclasses.replace(settings, public_rate_limit=3))
    async with client_of(app) as c:
        codes = [
            (await c.post("/login", data={"email": "x@example.com", "password": "p"})).status_code
            for _ in range(4)
        ]
    assert codes[:3] == [403, 403, 403] and codes[3] == 429


async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(settings, org):
    app = app_for(dataclasses.replace(settings, public_rate_limit=2, trusted_proxies=("10.0.0.1",)))
    async with client_of(app, "10.0.0.1") as proxy:
        for n in range(3):
            alice = await proxy.post("/f/ticket-resolved", headers={"x-forwarded-for": "1.1.1.1"})
            bob = await proxy.post("/f/ticket-resolved", headers={"x-forwarded-for": "2.2.2.2"})
            assert alice.status_code == bob.status_code == (429 if n == 2 else 403)
    untrusted = app_for(dataclasses.replace(settings, public_rate_limit=2))
    async with client_of(untrusted, "10.0.0.1") as proxy:
        codes = [
            (
                await proxy.post("/f/ticket-resolved", headers={"x-forwarded-for": f"3.3.3.{n}"})
            ).status_code
            for n in range(3)
        ]
    assert codes == [403, 403, 429]  # forged headers do not buy fresh limits


async def test_token_pages_limited_per_token_never_per_address(settings, org):
    app = app_for(settings)
    token, _ = await make_invitation(settings.secret_key)
    other, _ = await make_invitation(settings.secret_key, customer="c2")
    codes = []
    for n in range(settings.token_rate_limit + 1):
        async with client_of(app, f"192.0.2.{n + 1}") as c:  # a new address every time
            codes.append((await c.get(f"/api/responses/{token}")).status_code)
    assert codes[:-1] == [200] * settings.token_rate_limit
    assert codes[-1] == 429
    async with client_of(app, "192.0.2.1") as c:
        assert (await c.get(f"/s/{token}")).status_code == 429  # page and API share the token
        assert (await c.get(f"/api/responses/{other}")).status_code == 200
        # Many different tokens from one address are not limited by address.
        for _ in range(settings.public_rate_limit + 5):
            assert (await c.get("/s/" + secrets.token_urlsafe(32))).status_code == 404


async def test_opt_in_links_are_limited_per_token(settings, org):
    from surveys.opt_in import link_token

    app = app_for(dataclasses.replace(settings, token_rate_limit=2))
    links = [link_token(settings.secret_key, n, NOW, NOW) for n in (1, 2)]
    async with client_of(app) as c:
        codes = [(await c.get(f"/opt-in/{links[0]}")).status_code for _ in range(3)]
        assert codes == [404, 404, 429]
        assert (await c.get(f"/opt-in/{links[1]}")).status_code == 404  # its own count


async def test_html_clients_get_a_page_with_retry_after(settings, org):
    # The limiter counts minutes of the app's clock, which stands at NOW (10:00:00): both
    # requests fall in one window whenever the test runs, and the window has 60 s left.
    app = app_for(dataclasses.replace(settings, token_rate_limit=1))
    token, _ = await make_invitation(settings.secret_key)
    async with client_of(app) as c:
        first = await c.get(f"/s/{token}", headers={"accept": "text/html"})
        limited = await c.get(f"/s/{token}", headers={"accept": "text/html"})
    assert first.status_code == 200
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("text/html")
    assert limited.headers["retry-after"] == "60"
    assert '<html lang="en">' in limited.text
    assert "Please wait a moment" in limited.text and "Please wait a minute" in limited.text


async def test_a_customer_link_refused_speaks_the_browsers_language(settings, org):
    app = app_for(dataclasses.replace(settings, token_rate_limit=2, public_rate_limit=1))
    token, _ = await make_invitation(settings.secret_key)
    german = {"accept": "text/html", "accept-language": "de-CH, de;q=0.9, en;q=0.5"}
    async with client_of(app) as c:
        pages = [await c.get(f"/s/{token}", headers=german) for _ in range(3)]
        assert [p.status_code for p in pages] == [200, 200, 429]
        limited = pages[-1]
        assert limited.headers["retry-after"]
        assert '<html lang="de">' in limited.text
        assert "Bitte warten Sie einen Moment" in limited.text
        assert "Bitte warten Sie eine Minute" in limited.text
        assert "Please wait" not in limited.text
        # The API client flooding the same link still reads JSON.
        api = await c.get(f"/s/{token}", headers={"accept-language": "de"})
        assert api.status_code == 429 and api.json()["status_code"] == 429
        # A feedback post follows the browser the same way: Spanish here, English without one.
        spanish = {"accept": "text/html", "accept-language": "es-MX"}
        await c.post("/f/ticket-resolved", data={}, headers=spanish)
        posted = await c.post("/f/ticket-resolved", data={}, headers=spanish)
        assert posted.status_code == 429 and '<html lang="es">' in posted.text
        assert "Espere un momento, por favor" in posted.text
        plain = await c.post("/f/ticket-resolved", data={}, headers={"accept": "text/html"})
        assert plain.status_code == 429 and '<html lang="en">' in plain.text
        assert "Please wait a moment" in plain.text


async def test_a_refused_customer_link_falls_back_to_the_organisations_language(settings, db):
    await load_journey('[organisation]\nname = "Exemple SA"\ndefault_locale = "fr"\n' + JOURNEY)
    app = app_for(dataclasses.replace(settings, public_rate_limit=1))
    async with client_of(app) as c:
        html = {"accept": "text/html", "accept-language": "it"}  # no Italian words: the default
        await c.post("/f/ticket-resolved", data={}, headers=html)
        limited = await c.post("/f/ticket-resolved", data={}, headers=html)
    assert limited.status_code == 429 and '<html lang="fr">' in limited.text
    assert "Veuillez patienter un instant" in limited.text and "Exemple SA" in limited.text


async def test_two_app_instances_share_limits_through_redis(settings, org):
    shared = dataclasses.replace(
        settings, redis_url=REDIS_URL, public_rate_limit=4, trusted_proxies=("127.0.0.1",)
    )
    first, second = own_app(shared), own_app(shared)
    # A fresh address per run: the counters live in Redis for the rest of the minute.
    address = f"100.64.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    headers = {"x-forwarded-for": address}
    codes = []
    async with client_of(first) as a, client_of(second) as b:
        for n in range(6):
            c = a if n % 2 == 0 else b
            codes.append((await c.post("/f/ticket-resolved", headers=headers)).status_code)
    assert codes == [403, 403, 403, 403, 429, 429]
    for app in (first, second):
        for hook in app.on_shutdown:
            await hook()
    token, _ = await make_invitation(settings.secret_key)
    tokens_app = own_app(dataclasses.replace(shared, token_rate_limit=2))
    again_app = own_app(dataclasses.replace(shared, token_rate_limit=2))
    async with client_of(tokens_app) as a, client_of(again_app) as b:
        assert (await a.get(f"/api/responses/{token}")).status_code == 200
        assert (await b.get(f"/api/responses/{token}")).status_code == 200
        assert (await a.get(f"/api/responses/{token}")).status_code == 429
    for app in (tokens_app, again_app):
        for hook in app.on_shutdown:
            await hook()
