"""The bytes and headers of one delivery attempt.

Two signatures cover each delivery when the configuration has a signing secret:

* ``LC-Signature: sha256=<hex HMAC-SHA256(secret, body)>`` as the LlamaCloud SDK documents;
* Standard Webhooks: ``webhook-signature: v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>``
  with ``webhook-id`` (the event id) and ``webhook-timestamp`` (Unix seconds of the attempt),
  so a receiver can also reject replays of an old, validly signed body.

The HMAC key is the secret's UTF-8 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from batchsvc.webhooks.headers import header_problem

USER_AGENT = "batchsvc-webhooks/1"


def render_body(payload: dict[str, Any], output_format: str | None) -> bytes:
    """``json`` posts the object; ``string`` (the SDK's default) posts it JSON-encoded as a
    JSON string, so the body is a quoted string whose content is the object's JSON."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if output_format != "json":
        text = json.dumps(text, ensure_ascii=False)
    return text.encode()


def lc_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{event_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256)
                                    .digest()).decode()


def custom_headers(raw: object) -> dict[str, str]:
    """A configuration's webhook_headers as strings, dropping any that cannot be sent."""
    if not isinstance(raw, dict):
        return {}
    out: dict[str, str] = {}
    for name, value in raw.items():
        if header_problem(name, value) is None:
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def request_headers(
    *, event_id: str, event_type: str, delivery_id: str, attempt: int, timestamp: int,
    body: bytes, secret: str | None, extra: dict[str, str],
) -> dict[str, str]:
    headers = dict(extra)
    headers.update({
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "LC-Event-Type": event_type,
        "LC-Delivery-Id": delivery_id,
        "LC-Attempt": str(attempt),
    })
    if secret:
        headers["LC-Signature"] = lc_signature(secret, body)
        headers["webhook-signature"] = standard_signature(secret, event_id, timestamp, body)
    return headers
