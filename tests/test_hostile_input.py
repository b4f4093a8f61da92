"""Hostile request bodies get a 4xx, never a 5xx: oversized, deeply nested, invalid UTF-8, NUL
bytes, huge strings.

To cover a new endpoint, add an `Endpoint` to ENDPOINTS: its method, path, how it
authenticates, how its body is encoded, and a body where the value "{}" marks the field the
hostile text goes into (for GET, the fields become the query string).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from conftest import app_with

from listening.settings import load_settings

JOURNEY = Path(__file__).parent.parent / "listening" / "demo" / "journey.toml"
MARK = "{}"


@dataclass(frozen=True)
class Endpoint:
    """A request to attack; `fields` holds MARK where hostile text goes."""

    method: str
    path: str
    auth: str | None  # "admin_key", "ingest_key", "session" or None
    encoding: str  # "json", "form" or "query"
    fields: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("POST", "/login", None, "form", {"email": MARK, "password": "x", "next": "/"}),
    Endpoint("GET", "/api/session", None, "query", {"next": MARK}),
    Endpoint("GET", "/login", None, "query", {"next": MARK}),
    Endpoint("POST", "/api/departments", "admin_key", "json", {"key": "ops", "name": MARK}),
    Endpoint("POST", "/api/departments", "session", "json", {"key": "ops", "name": MARK}),
    Endpoint("PATCH", "/api/departments/sales", "admin_key", "json", {"name": MARK}),
    Endpoint(
        "POST",
        "/api/journeys",
        "admin_key",
        "json",
        {"key": "j", "name": MARK, "steps": []},
    ),
    Endpoint("POST", "/f/get-advice", None, "form", {"csat": "5", "comment": MARK}),
    Endpoint("POST", "/s/not-a-token", None, "form", {"csat": "5", "comment": MARK}),
    Endpoint("POST", "/api/responses/not-a-token", None, "json", {"answers": {"csat": MARK}}),
]

HUGE = "x" * 1_000_000
DEEP = 5_000


def _fill(value: Any, text: Any) -> Any:
    if value == MARK:
        return text
    if isinstance(value, dict):
        return {k: _fill(v, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, text) for v in value]
    return value


def _encode(endpoint: Endpoint, text: str) -> tuple[bytes, str]:
    filled = _fill(endpoint.fields, text)
    if endpoint.encoding == "json":
        return json.dumps(filled).encode(), "application/json"
    return urlencode(filled).encode(), "application/x-www-form-urlencoded"


def _invalid_utf8(endpoint: Endpoint) -> tuple[bytes, str]:
    body, kind = _encode(endpoint, "SENTINEL")
    return body.replace(b"SENTINEL", b"caf\xe9 \xff\xfe"), kind


def _deep(endpoint: Endpoint) -> tuple[bytes, str]:
    if endpoint.encoding != "json":
        return _encode(endpoint, "[" * DEEP)
    body, kind = _encode(endpoint, "SENTINEL")
    return body.replace(b'"SENTINEL"', b"[" * DEEP + b"]" * DEEP), kind


ATTACKS = {
    "nul": lambda e: _encode(e, "a\x00b"),
    "huge-string": lambda e: _encode(e, HUGE),
    "invalid-utf8": _invalid_utf8,
    "deep-nesting": _deep,
    "whole-body-deep": lambda e: (b"[" * DEEP + b"]" * DEEP, "application/json"),
    "not-json": lambda e: (b'{"name": ', "application/json"),
    "control-chars": lambda e: _encode(e, "\x1b[31m\u202e\ud7ff\ufffe"),
}


@pytest.fixture
async def journey(db: None) -> None:
    """The example organisation, so feedback forms and departments exist."""
    from listening.journeys import load_journey_file

    await load_journey_file(JOURNEY)


async def _send(
    client: httpx.AsyncClient, endpoint: Endpoint, body: bytes, kind: str, headers: dict
) -> httpx.Response:
    if endpoint.encoding == "query" and kind == "application/x-www-form-urlencoded":
        # Raw bytes above 0x7f travel percent-encoded, as a browser would send them.
        query = "".join(chr(b) if b < 0x80 else f"%{b:02X}" for b in body)
        return await client.request(endpoint.method, f"{endpoint.path}?{query}", headers=headers)
    return await client.request(
        endpoint.method,
        endpoint.path,
        content=body,
        headers={**headers, "content-type": kind, "accept": "application/json"},
    )


@pytest.fixture
async def attacker(client, journey, admin_user, admin_key, ingest_key):
    """A function sending one attack to one endpoint, authenticated as the endpoint says."""
    from tests.conftest import PASSWORD, login

    session = None

    async def attack(endpoint: Endpoint, body: bytes, kind: str) -> httpx.Response:
        nonlocal session
        keys = {"admin_key": admin_key, "ingest_key": ingest_key}
        headers = (
            {"authorization": f"Bearer {keys[endpoint.auth]}"} if endpoint.auth in keys else {}
        )
        if endpoint.auth == "session" and session is None:
            await login(client, admin_user.email, PASSWORD)
            session = True
        if endpoint.auth != "session":
            client.headers.pop("x-csrftoken", None)
        return await _send(client, endpoint, body, kind, headers)

    return attack


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e}-{e.auth}")
async def test_hostile_bodies_are_refused_not_crashed(attacker, endpoint: Endpoint):
    """Every attack answers below 500; text with NUL, huge strings or bad UTF-8 is refused.

    One test per endpoint runs every attack (a refused request changes nothing, and the
    database and login are set up once), and reports all the attacks that failed together.
    """
    failures = []
    for name, build in ATTACKS.items():
        if endpoint.encoding == "query" and name == "huge-string":
            continue  # servers cap the request line long before the app sees it
        body, kind = build(endpoint)
        answer = await attacker(endpoint, body, kind)
        must_refuse = endpoint.method != "GET" and name in ("nul", "huge-string", "invalid-utf8")
        if answer.status_code >= 500 or (must_refuse and not 400 <= answer.status_code < 500):
            failures.append(f"{name}: {answer.status_code} {answer.text[:200]}")
    assert failures == []


# --- bodies over the limit ------------------------------------------------------------------

LIMIT = 4096
OVERSIZED = [
    ("POST", "/login", "form"),
    ("POST", "/login", "json"),
    ("POST", "/api/departments", "admin_key"),
    ("POST", "/f/get-advice", "form"),
    ("POST", "/api/responses/not-a-token", "json"),
]


@pytest.fixture
async def small_client(journey: None) -> Any:
    """A client on an app whose body limit is 4 KiB."""
    settings = load_settings({**os.environ, "LISTENING_MAX_BODY_BYTES": str(LIMIT)})
    app = app_with(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield c


@pytest.mark.parametrize(("method", "path", "how"), OVERSIZED, ids=lambda v: str(v))
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_body_over_the_limit_is_413(small_client, admin_key, method, path, how, chunked):
    """A body over the limit is refused with 413, announced or streamed, CSRF cookie or not."""
    await small_client.get(
        "/login"
    )  # a CSRF cookie, so the form's token check is not what stops it
    if how == "form":
        token = small_client.cookies.get("lp_csrf")
        body = f"_csrf_token={token}&comment=".encode() + b"x" * LIMIT
        headers = {"content-type": "application/x-www-form-urlencoded"}
    else:
        body = b'{"name": "' + b"x" * LIMIT + b'"}'
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "x-csrftoken": small_client.cookies.get("lp_csrf"),
        }
    if how == "admin_key":
        headers["authorization"] = f"Bearer {admin_key}"

    async def stream():
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    content: Any = stream() if chunked else body
    answer = await small_client.request(method, path, content=content, headers=headers)
    assert answer.status_code == 413, answer.text[:300]


async def test_body_under_the_limit_passes(small_client, admin_key):
    """The limit is not a blanket refusal: a normal body still works on the small app."""
    answer = await small_client.post(
        "/api/departments",
        json={"key": "ops", "name": "Operations"},
        headers={"authorization": f"Bearer {admin_key}"},
    )
    assert answer.status_code == 201, answer.text
