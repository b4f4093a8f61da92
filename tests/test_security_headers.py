"""Security headers on pages, token pages, JSON and errors; cookie attributes per base URL."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from listening.app import create_app
from listening.security_headers import CHART_CSP, STRICT_CSP
from listening.settings import load_settings

JOURNEY = Path(__file__).parent.parent / "listening" / "demo" / "journey.toml"


def _directives(csp: str) -> dict[str, list[str]]:
    parts = [p.strip().split() for p in csp.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


def assert_common(response: httpx.Response) -> dict[str, list[str]]:
    """The headers every answer carries; returns the parsed CSP."""
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    csp = _directives(response.headers["content-security-policy"])
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["script-src"] == ["'self'"], "no inline script, no eval, no other origin"
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    return csp


@pytest.fixture
async def journey(db: None) -> None:
    """The example organisation, so feedback pages have real steps."""
    from listening.journeys import load_journey_file

    await load_journey_file(JOURNEY)


async def test_feedback_page_is_strict(client, journey) -> None:
    """A real survey form page: strict CSP, no inline style either, same-origin referrer."""
    page = await client.get("/f/get-advice", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "<form" in page.text
    csp = assert_common(page)
    assert csp["style-src"] == ["'self'"]
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["content-security-policy"] == STRICT_CSP


async def test_survey_token_page_never_leaks_its_token(client, journey) -> None:
    """A /s/<token> answer says no-referrer and no-store, whatever its status."""
    page = await client.get("/s/not-a-real-token", headers={"accept": "text/html"})
    assert page.status_code < 500
    csp = assert_common(page)
    assert csp["style-src"] == ["'self'"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


async def test_login_page(client) -> None:
    """The login page: strict CSP, and the form posts only to this site."""
    page = await client.get("/login")
    assert page.status_code == 200
    csp = assert_common(page)
    assert csp["form-action"] == ["'self'"]
    assert page.headers["referrer-policy"] == "same-origin"


async def test_templates_hold_no_inline_script_or_style() -> None:
    """The strict policy would break a page with inline script or style, so none may exist."""
    roots = [Path(__file__).parent.parent / p for p in ("surveys", "listening", "dashboards")]
    # The standalone report is a file people download (Content-Disposition: attachment) and open
    # from disk, offline: it carries plotly inline, and no page of the site renders it.
    standalone = {"report.html"}
    offenders = []
    for root in roots:
        for template in root.glob("templates/**/*.html"):
            if template.name in standalone:
                continue
            text = template.read_text().lower()
            for marker in ("<script>", "<style", " style=", " onclick=", " onload=", "javascript:"):
                if marker in text:
                    offenders.append(f"{template.name}: {marker}")
    assert offenders == []


async def test_json_api_and_errors(client, admin_key) -> None:
    """JSON answers, 401s and routing 404s carry the headers too."""
    auth = {"authorization": f"Bearer {admin_key}"}
    ok = await client.get("/api/departments", headers=auth)
    assert ok.status_code == 200
    assert_common(ok)
    refused = await client.get("/api/departments")
    assert refused.status_code == 401
    assert_common(refused)
    missing = await client.get("/no/such/page")
    assert missing.status_code == 404
    assert_common(missing)


async def test_dashboards_allow_plotly_styles_only(client) -> None:
    """Dashboard paths let plotly style its SVG; script stays strict."""
    page = await client.get("/dashboards")
    csp = assert_common(page)
    assert page.headers["content-security-policy"] == CHART_CSP
    assert "'unsafe-inline'" in csp["style-src"]


def _settings(**extra: str):
    return load_settings({**os.environ, **extra})


async def _cookies_after_login(settings, admin_user) -> list[str]:
    from conftest import PASSWORD

    app = create_app(settings, manage_pool=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as c:
        page = await c.get("/login")
        set_cookies = page.headers.get_list("set-cookie")
        answer = await c.post(
            "/login",
            data={
                "email": admin_user.email,
                "password": PASSWORD,
                "_csrf_token": c.cookies.get("lp_csrf"),
            },
            follow_redirects=False,
        )
        assert answer.status_code == 303
        return set_cookies + answer.headers.get_list("set-cookie")


def _cookie(set_cookies: list[str], name: str) -> str:
    matches = [c for c in set_cookies if c.startswith(f"{name}=")]
    assert matches, f"{name} was not set"
    return matches[-1].lower()


async def test_cookies_secure_when_base_url_is_https(admin_user) -> None:
    """With an https base URL both cookies are Secure, HttpOnly and SameSite=Lax."""
    cookies = await _cookies_after_login(
        _settings(LISTENING_BASE_URL="https://feedback.example.com"), admin_user
    )
    for name in ("lp_csrf", "lp_session"):
        cookie = _cookie(cookies, name)
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "; secure" in cookie


async def test_cookies_not_secure_over_plain_http(admin_user) -> None:
    """Over plain http a Secure cookie would never come back, so it is not set."""
    cookies = await _cookies_after_login(
        _settings(LISTENING_BASE_URL="http://localhost:8000"), admin_user
    )
    for name in ("lp_csrf", "lp_session"):
        cookie = _cookie(cookies, name)
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "; secure" not in cookie
