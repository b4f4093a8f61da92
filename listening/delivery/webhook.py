"""Webhook delivery: an HTTP POST of JSON, signed with HMAC-SHA256 over the timestamp and body.

Receivers check `X-Listening-Signature: sha256=<hex>` where hex is the HMAC-SHA256 of
`<X-Listening-Timestamp>.<raw body>` under the webhook secret (`listening webhook-secret`), refuse
old timestamps, and drop repeats by `X-Listening-Delivery`, which stays the same on every retry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

TIMEOUT_SECONDS = 10.0
SIGNATURE_HEADER = "X-Listening-Signature"
TIMESTAMP_HEADER = "X-Listening-Timestamp"
DELIVERY_HEADER = "X-Listening-Delivery"
EVENT_HEADER = "X-Listening-Event"


class DeliveryError(Exception):
    """The receiver did not take the message; it will be tried again later."""


def webhook_secret(secret_key: str) -> str:
    """The signing secret of webhooks, derived from the server's secret key."""
    return hmac.new(secret_key.encode(), b"webhook-signing", hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for a body sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance: int = 300,
) -> bool:
    """Whether a received webhook is authentic and recent (what a receiver does)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


async def post_webhook(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str,
    delivery_id: str,
    event: str,
    timestamp: int | None = None,
) -> None:
    """POST the payload; raise DeliveryError unless the receiver answers 2xx."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ListeningPost-Webhook/1",
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(secret, stamp, body),
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
    }
    try:
        response = await client.post(url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"receiver answered {response.status_code}")
