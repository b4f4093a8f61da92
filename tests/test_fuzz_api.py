"""Fuzzing: schemathesis drives every operation of the OpenAPI schema of a running server.

With an admin API key, with a session of each role (admin, executive, employee) and as a
customer holding survey tokens, generated requests (valid ones and, for admins and customers,
invalid ones) must never get a 5xx nor an answer that contradicts the schema. Path parameters are
drawn half the time from ids that exist (departments, steps, survey tokens, a round, a
follow-up), so the fuzzer reaches the handlers' logic and not only their 404s; the customer's
token operations always get a token that exists. Every dashboard filter is in the schema with
its bounds, so the fuzzer reaches each one. The event endpoints read their bodies themselves,
so the schema does not describe them; the test adds the event schema to those two operations
before fuzzing.

The run is bounded and derandomized (the same cases every run): a few examples per operation
keep it near two minutes on two cores. It runs in the SQLite pass only (the PostgreSQL pass
collects no test from this module); `LISTENING_FUZZ_EXAMPLES=50` explores more, by hand.
"""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import msgspec
import requests
from example_org import PASSWORD, link_event, load_example_org, token_of
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from live_server import LiveServer

from listening.schemas import EventIn

ENGINE = os.environ.get("LISTENING_TEST_ENGINE", "sqlite")
EXAMPLES = int(os.environ.get("LISTENING_FUZZ_EXAMPLES", "0"))


@dataclass
class Identity:
    """Who sends the generated requests, and how hard to try."""

    name: str
    session: requests.Session
    headers: dict[str, str]
    examples: int
    negative: bool
    # Only operations with this path parameter, always given a value that exists.
    only_with: str | None = None


def _login(base_url: str, email: str) -> tuple[requests.Session, dict[str, str]]:
    session = requests.Session()
    session.get(f"{base_url}/login", timeout=30)
    csrf = session.cookies["lp_csrf"]
    answer = session.post(
        f"{base_url}/login",
        data={"email": email, "password": PASSWORD, "_csrf_token": csrf},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303, answer.text
    return session, {"x-csrftoken": session.cookies["lp_csrf"]}


def _with_known_values(strategy: Any, known: dict[str, list[Any]], always: str | None) -> Any:
    """Cases whose path parameters are, half the time (`always`: every time), ids that exist."""

    @st.composite
    def cases(draw: Any) -> Any:
        case = draw(strategy)
        for name in list(case.path_parameters or {}):
            if name in known and (name == always or draw(st.booleans())):
                case.path_parameters[name] = draw(st.sampled_from(known[name]))
        return case

    return cases()


def _run(strategy: Any, who: Identity, base_url: str, checks: list, failed: Any) -> None:
    """Send the examples of one operation's strategy; report the first failure to `failed`."""

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES or who.examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        response = case.call(
            base_url=base_url, session=who.session, headers=who.headers, timeout=60
        )
        try:
            case.validate_response(response, checks=checks)
        except BaseException as exc:  # schemathesis raises an exception group
            failed(str(exc)[:2000])

    run()


def _with_event_bodies(raw: dict[str, Any]) -> dict[str, Any]:
    """The schema with the event endpoints' bodies, which they parse themselves (undocumented)."""
    (event,), components = msgspec.json.schema_components(
        [EventIn], ref_template="#/components/schemas/{name}"
    )
    raw.setdefault("components", {}).setdefault("schemas", {}).update(components)
    bodies = {"/api/events": event, "/api/events/batch": {"type": "array", "items": event}}
    for path, body in bodies.items():
        raw["paths"][path]["post"]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return raw


def _fuzz(base_url: str, identities: list[Identity], known: dict[str, list[Any]]) -> list[str]:
    """Run every operation for every identity; one line per (identity, operation) that failed."""
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
    )

    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    raw = httpx.get(f"{base_url}/schema/openapi.json", timeout=60).json()
    schema = schemathesis.openapi.from_dict(_with_event_bodies(raw))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40  # the whole API, not a page of it
    failures: dict[str, str] = {}
    filters = {"from", "to", "journey", "segment", "compare", "period", "department"}
    reached = {
        p.name
        for op in operations
        for p in op.query
        if op.path.startswith(("/api/gaps", "/api/responses.", "/dashboards"))
    }
    assert filters <= reached, filters - reached  # every dashboard filter is fuzzed
    for who in identities:
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if who.negative else [])
        for operation in operations:
            if who.only_with and f"{{{who.only_with}}}" not in operation.path:
                continue
            for mode in modes:
                strategy = operation.as_strategy(generation_mode=mode)
                if mode is GenerationMode.POSITIVE:
                    strategy = _with_known_values(strategy, known, who.only_with)
                label = f"{who.name}: {operation.label} ({mode.value})"
                # Unsatisfiable: nothing to negate in an operation without parameters or body.
                with suppress(Unsatisfiable):
                    _run(strategy, who, base_url, checks, partial(failures.setdefault, label))
    return [f"{label}\n{detail}" for label, detail in failures.items()]


async def _prepare(server: LiveServer, admin_key: str) -> dict[str, list[Any]]:
    """A fresh survey token, an answered one with a follow-up, and an open round."""
    auth = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=60) as api:
        tokens = []
        for n in range(1, 9):
            sent = await api.post("/api/events", json=link_event(f"fuzz-{n}", f"fuzz-c{n}"))
            assert sent.status_code == 202, sent.text
            tokens.append(token_of(sent.json()))
        answered = await api.post(
            f"/api/responses/{tokens[1]}", json={"answers": {"csat": 1, "comment": "Slow."}}
        )
        assert answered.status_code == 201, answered.text
        follow_ups = (await api.get("/api/follow-ups")).json()
        assert follow_ups, "a low score opens a follow-up"
        now = datetime.now(UTC)
        round_ = await api.post(
            "/api/rounds",
            json={
                "name": "Fuzz round",
                "starts_at": (now - timedelta(minutes=1)).isoformat(),
                "ends_at": (now + timedelta(days=7)).isoformat(),
                "departments": ["support", "sales"],
            },
        )
        assert round_.status_code == 201, round_.text
        steps = [s["key"] for s in (await api.get("/api/steps")).json()]
        departments = [d["key"] for d in (await api.get("/api/departments")).json()]
        journeys = [j["key"] for j in (await api.get("/api/journeys")).json()]
        triggers = [t["key"] for t in (await api.get("/api/triggers")).json()]
    return {
        "key": departments + journeys + steps + triggers,
        "step_key": steps,
        "token": tokens,
        "round_id": [round_.json()["id"]],
        "follow_up_id": [follow_ups[0]["id"]],
        "version": [1, 2],
    }


if ENGINE == "sqlite":  # one engine suffices for the fuzzer; the PostgreSQL pass collects nothing

    async def test_no_operation_answers_5xx_or_breaks_its_schema(db, tmp_root):
        org = await load_example_org()
        limits = {"LISTENING_PUBLIC_RATE_LIMIT": "1000000", "LISTENING_TOKEN_RATE_LIMIT": "1000000"}
        with LiveServer(tmp_root / "fuzz-server.log", env=limits) as server:
            known = await _prepare(server, org.admin_key)
            key_session = requests.Session()
            identities = [
                Identity(
                    "admin API key",
                    key_session,
                    {"Authorization": f"Bearer {org.admin_key}"},
                    examples=5,
                    negative=True,
                ),
            ]
            for role, examples in (("admin", 2), ("executive", 2), ("employee", 2)):
                session, headers = _login(server.url, org.emails[role])
                identities.append(
                    Identity(
                        f"{role} session", session, headers, examples, negative=role == "admin"
                    )
                )
            # A customer: every survey-token operation with a token that exists (fresh ones,
            # one already answered), valid answers and invalid ones.
            identities.append(
                Identity("survey token", requests.Session(), {}, 6, True, only_with="token")
            )
            failures = _fuzz(server.url, identities, known)
            log = server.log()
        assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
        assert "Traceback" not in log, log[-5000:]
