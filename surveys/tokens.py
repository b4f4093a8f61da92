"""Survey-link tokens: an HMAC of the invitation's uid under the secret key.

Only a hash of the token is stored, so a copy of the database alone cannot produce working
links, while the server can show the same link again (for a duplicate event, the worker, admins).

Two forms, told apart by the uid and by the token's length, so links already sent keep working:

- **time-ordered** (time-based uids, RFC 9562, whose first 48 bits are a millisecond timestamp:
  version 7 stamped from ORDERED_SINCE_MS on, and every version 8): 44 characters, that timestamp
  followed by 216 bits of the HMAC. Its look-up key starts
  with `t` and that timestamp, so new invitations append to the end of the unique look-up index
  instead of touching a random page of it each (a quarter of a batch's writing time, measured).
  The timestamp says when the invitation was made, nothing more; the secret part stays 216 bits.
- **plain** (any other uid, such as random ones, or time-based ones made before time-ordered
  tokens existed): 43 characters, the 256-bit HMAC; its look-up key is the SHA-256 hex.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from functools import lru_cache

PLAIN_LENGTH = 43  # 32 bytes in base64 without padding
ORDERED_LENGTH = 44  # 6 + 27 bytes
_STAMP_BYTES = 6
_SECRET_BYTES = 27
# 2026-11-23 17:12 UTC. Version-7 uids stamped earlier were sent with plain tokens and keep them;
# from then on uids carried version 8 to mark time-ordered tokens, until version 7 took it over.
ORDERED_SINCE_MS = 1_795_453_920_000


# base64's URL-safe alphabet, applied to binascii's output directly: the base64 module's
# wrappers cost more than the HMAC on the writer's hot path.
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


@lru_cache(maxsize=8)
def _key_bytes(secret_key: str) -> bytes:
    return secret_key.encode()


def time_ordered(uid: str) -> bool:
    """Whether the invitation with this uid has a time-ordered token: a version-8 uid, or a
    version-7 one stamped from ORDERED_SINCE_MS on."""
    if len(uid) != 36 or uid[14] not in "78":
        return False
    if uid[14] == "8":
        return True
    try:
        return int(uid[:8] + uid[9:13], 16) >= ORDERED_SINCE_MS
    except ValueError:
        return False


def invitation_token(secret_key: str, uid: str) -> str:
    """The URL-safe token of the invitation with this uid (at least 216 secret bits)."""
    digest = hmac.digest(_key_bytes(secret_key), b"invitation:" + uid.encode(), "sha256")
    if time_ordered(uid):
        return _url_safe(bytes.fromhex(uid[:8] + uid[9:13]) + digest[:_SECRET_BYTES])
    return _url_safe(digest)[:PLAIN_LENGTH]


def _url_safe(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).translate(_URL_SAFE).decode()


def token_and_key(secret_key: str, uid: str) -> tuple[str, str]:
    """The token of a new invitation and its look-up key, made together (the writer's path)."""
    token = invitation_token(secret_key, uid)
    if len(token) == ORDERED_LENGTH:
        # The stamp's hex is the uid's first 12 hex digits: no need to decode the token's.
        return token, _ordered_key(uid[:8] + uid[9:13], token)
    return token, hashlib.sha256(token.encode()).hexdigest()


def token_hash(token: str) -> str:
    """The stored look-up key of a token (64 characters)."""
    if len(token) == ORDERED_LENGTH:
        try:
            stamp = base64.urlsafe_b64decode(token[:8])[:_STAMP_BYTES]
        except (binascii.Error, ValueError):
            pass  # not one of ours: its plain hash is a key that matches nothing
        else:
            return _ordered_key(stamp.hex(), token)
    return hashlib.sha256(token.encode()).hexdigest()


def _ordered_key(stamp_hex: str, token: str) -> str:
    # "t", the 12 hex digits of the millisecond stamp, then 51 of the token's SHA-256.
    return "t" + stamp_hex + hashlib.sha256(token.encode()).hexdigest()[:51]


def signed_link(secret_key: str, purpose: str, payload: str) -> str:
    """`payload` and 216 bits of its HMAC for one purpose: `<payload>.<signature>`.

    For links that carry their own state (the payload: URL-safe, no secret); the purpose
    keeps a signature made for one kind of link from being valid for another (an invitation's
    HMAC input is `invitation:<uid>`, this one's `<purpose>:<payload>`).
    """
    message = purpose.encode() + b":" + payload.encode()
    digest = hmac.digest(_key_bytes(secret_key), message, "sha256")
    return payload + "." + _url_safe(digest[:_SECRET_BYTES])


def signed_payload(secret_key: str, purpose: str, token: str) -> str | None:
    """The payload of a link `signed_link` made for `purpose`; None when forged or altered."""
    payload, dot, _ = token.rpartition(".")
    if not dot or not payload:
        return None
    expected = signed_link(secret_key, purpose, payload)
    return payload if hmac.compare_digest(expected.encode(), token.encode()) else None
