"""Opaque page tokens for cursor-paged lists."""

from __future__ import annotations

import base64

from batchsvc.errors import Invalid
from batchsvc.models import BIGINT_MAX


def encode_token(position: int) -> str:
    return base64.urlsafe_b64encode(f"p:{position}".encode()).decode().rstrip("=")


def decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, value = raw.split(":", 1)
        position = int(value)
        if kind != "p" or not 0 <= position <= BIGINT_MAX:
            raise ValueError
        return position
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(["query", "page_token"], "not a page token this server issued") from exc
