"""Webhook signatures: HMAC-SHA256 over "{delivery id}.{timestamp}.{body}" (MLflow's scheme).

Plain Python. The receiver recomputes the signature with the shared secret and compares it in
constant time, and refuses timestamps older than `TOLERANCE_SECONDS` (docs/webhooks.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

VERSION = "v1"
TOLERANCE_SECONDS = 300


def sign(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """The signature header's value: `v1,<base64 of the HMAC-SHA256>`."""
    signed = f"{delivery_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode('ascii')}"


def verify(
    secret: str,
    delivery_id: str,
    timestamp: str,
    body: str,
    signature: str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Whether a delivery is authentic and fresh: its signature matches and its timestamp is
    within `tolerance` seconds of now."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, delivery_id, timestamp, body), signature)
