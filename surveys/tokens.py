"""Survey-link tokens: an HMAC of the invitation's uid under the secret key.

Only a SHA-256 of the token is stored, so a copy of the database alone cannot produce working
links, while the server can show the same link again (for a duplicate event, the worker, admins).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache


@lru_cache(maxsize=8)
def _key_bytes(secret_key: str) -> bytes:
    return secret_key.encode()


def invitation_token(secret_key: str, uid: str) -> str:
    """The URL-safe token (256 bits) of the invitation with this uid."""
    digest = hmac.digest(_key_bytes(secret_key), b"invitation:" + uid.encode(), "sha256")
    # 32 bytes make 44 base64 characters, the last one padding.
    return base64.urlsafe_b64encode(digest)[:43].decode()


def token_hash(token: str) -> str:
    """The stored look-up form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()
