"""The example organisation (listening/demo/journey.toml) with one account per role, for tests
that run against a live server: fuzzing, concurrency, crash safety, injection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import listening
from listening.apikeys import create_key
from listening.journeys import load_journey_file
from surveys.accounts import create_user

DEMO_JOURNEY = Path(listening.__file__).parent / "demo" / "journey.toml"
PASSWORD = "correct horse battery"

# A link trigger on every event of this type: its answers carry the survey link at once.
LINK_EVENT = "survey.link.test"
LINK_TRIGGER = f"""
[[triggers]]
key = "test-link"
event_type = "{LINK_EVENT}"
step = "ticket-resolved"
channel = "link"
quarantine = "0s"
"""


@dataclass(frozen=True)
class ExampleOrg:
    """Who can log in, and the admin API key."""

    emails: dict[str, str]  # role -> email
    admin_key: str


async def load_example_org(
    journey_text: str | None = None, extra: str = LINK_TRIGGER
) -> ExampleOrg:
    """Load the journey file (the example one unless told), an account per role and an API key."""
    await load_journey_file((journey_text or DEMO_JOURNEY.read_text()) + extra)
    emails = {
        "admin": "admin@example.com",
        "executive": "exec@example.com",
        "employee": "employee@example.com",
    }
    for role, email in emails.items():
        await create_user(
            email=email,
            name=f"{role.title()} Person",
            roles=[role],
            password=PASSWORD,
            department_key="support" if role == "employee" else None,
        )
    _, key = await create_key("automation", "admin")
    return ExampleOrg(emails=emails, admin_key=key)


def link_event(event_id: str, customer: str, **fields: Any) -> dict[str, Any]:
    """An event the test link trigger answers with a survey link."""
    body: dict[str, Any] = {
        "id": event_id,
        "type": LINK_EVENT,
        "occurred_at": datetime.now(UTC).isoformat(),
        "customer": {"id": customer},
        "attributes": {},
    }
    body.update(fields)
    return body


def daytime_zone() -> str:
    """A fixed-offset zone where it is early afternoon now: outside the quiet hours."""
    offset = (14 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def token_of(event_answer: dict[str, Any]) -> str:
    """The survey token in an event's answer (its one link invitation)."""
    (invitation,) = event_answer["invitations"]
    return invitation["survey_url"].rsplit("/s/", 1)[1]
