"""What ingesting one event did, and the JSON answer a caller gets for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from surveys.tokens import invitation_token

UNAUTHORIZED = "unauthorized"
_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class Outcome:
    """What ingesting one event did: `invitations` as stored in Event.outcome."""

    event_id: str
    duplicate: bool
    invitations: list[dict[str, Any]]
    tokens: dict[str, str] = field(default_factory=dict)  # uid -> token, for fresh invitations


def survey_url(base_url: str, secret_key: str, uid: str) -> str:
    """The public link of an invitation."""
    return f"{base_url.rstrip('/')}/s/{invitation_token(secret_key, uid)}"


def answer(
    outcome: Outcome,
    *,
    base_url: str,
    secret_key: str,
    caller_tokens: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON answer for an outcome; only link-channel invitations show their URL.

    `caller_tokens` holds tokens the caller made itself (uid -> token), as `prepare` does."""
    invitations = []
    for item in outcome.invitations:
        shown: dict[str, Any] = {
            "trigger": item["trigger"],
            "survey": item["survey"],
            "status": item["status"],
            "send_at": item.get("send_at"),
        }
        uid = item.get("uid")
        if item.get("channel") == "link" and uid:
            token = (
                outcome.tokens.get(uid)
                or (caller_tokens and caller_tokens.get(uid))
                or invitation_token(secret_key, uid)
            )
            shown["survey_url"] = f"{base_url.rstrip('/')}/s/{token}"
        invitations.append(shown)
    return {
        "event_id": outcome.event_id,
        "duplicate": outcome.duplicate,
        "invitations": invitations,
    }


def encode(value: Any) -> bytes:
    """JSON bytes of an answer."""
    return _encoder.encode(value)


def encode_text(value: Any) -> str:
    """JSON text of a value, as stored in a JSON column."""
    return _encoder.encode(value).decode()
