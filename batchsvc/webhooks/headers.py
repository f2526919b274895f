"""Which custom headers a webhook configuration may set."""

from __future__ import annotations

import re

# Headers the delivery protocol owns; a configuration may not set them.
RESERVED_HEADERS = {
    "host", "content-length", "content-type", "transfer-encoding", "connection", "te",
    "upgrade", "expect", "user-agent", "lc-signature", "webhook-id", "webhook-timestamp",
    "webhook-signature", "lc-event-type", "lc-delivery-id", "lc-attempt",
}
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")


def header_problem(name: object, value: object) -> str | None:
    """Why a custom header cannot be sent, or None. Never quotes the value: it may be a secret."""
    if not isinstance(name, str) or not HEADER_NAME.match(name):
        return "header names must be HTTP tokens"
    if name.lower() in RESERVED_HEADERS:
        return f"header {name} is set by the server and may not be overridden"
    if isinstance(value, (dict, list)) or value is None:
        return f"header {name} must have a string value"
    text = str(value)
    if any(c in text for c in "\r\n\0") or len(text) > 8192:
        return f"header {name} has a value with line breaks or over 8192 characters"
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return f"header {name} has a value HTTP cannot carry (Latin-1 only)"
    return None
