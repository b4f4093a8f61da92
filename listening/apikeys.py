"""API keys for other systems: high-entropy random strings stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from listening.tables import ApiKey
from surveys.clock import Clock, system_clock
from surveys.errors import Invalid, NotFound

# ingest: send events only; suppress: events and suppressions (bounces, complaints); admin: all.
SCOPES = ("ingest", "suppress", "admin")
KEY_PREFIX = "lp_"


@dataclass(frozen=True)
class KeyIdentity:
    """The key a request authenticated with."""

    id: int
    name: str
    scope: str


def hash_key(key: str) -> str:
    """The stored form of a key: SHA-256 suits 256 random bits; argon2 would slow every event."""
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(name: str, scope: str, *, clock: Clock = system_clock) -> tuple[int, str]:
    """Create a key; returns its id and the key itself, which is never stored."""
    if scope not in SCOPES:
        raise Invalid(f"scope must be one of {', '.join(SCOPES)}", field="scope")
    if not name.strip():
        raise Invalid("a name is required", field="name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name.strip(), scope=scope, key_hash=hash_key(key), prefix=key[:10], created_at=clock()
    )
    await row.save()
    return row.id, key


async def identify(key: str) -> KeyIdentity | None:
    """The live key matching this secret, or None."""
    row = (
        await ApiKey.select(ApiKey.id, ApiKey.name, ApiKey.scope)
        .where((ApiKey.key_hash == hash_key(key)) & ApiKey.revoked_at.is_null())
        .first()
    )
    return KeyIdentity(row["id"], row["name"], row["scope"]) if row else None


async def revoke_key(key_id: int, *, clock: Clock = system_clock) -> None:
    """Revoke a key; requests with it answer 401 from now on."""
    done = (
        await ApiKey.update({ApiKey.revoked_at: clock()})
        .where(ApiKey.id == key_id)
        .returning(ApiKey.id)
    )
    if not done:
        raise NotFound(f"no API key {key_id}", field="id")


async def list_keys() -> list[dict]:
    """Every key, without secrets."""
    return await ApiKey.select(
        ApiKey.id, ApiKey.name, ApiKey.scope, ApiKey.prefix, ApiKey.created_at, ApiKey.revoked_at
    ).order_by(ApiKey.id)
