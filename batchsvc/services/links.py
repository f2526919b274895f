"""Links the API signs to its own download routes, for objects a store cannot presign.

The signature covers what the link names (its path parts, as the route sees them) and the
expiry, with a key derived for this purpose only, so a link opens one object until it
expires and cannot be bent to another."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from urllib.parse import quote

from batchsvc.secrets import derived_key

DEFAULT_TTL_SECONDS = 3600


def _sign(parts: Sequence[str], expires: int) -> str:
    message = "\x00".join([*parts, str(expires)]).encode()
    return hmac.new(derived_key(b"result-link"), message, hashlib.sha256).hexdigest()


def signed_url(base_url: str, template: str, parts: Sequence[str],
               ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
    """``template`` (``{}`` per part) filled with the quoted ``parts``, signed."""
    expires = int(time.time()) + ttl_seconds
    path = template.format(*(quote(p, safe="") for p in parts))
    return (f"{base_url.rstrip('/')}{path}?expires={expires}"
            f"&signature={_sign(parts, expires)}")


def check(parts: Sequence[str], expires: str | None, signature: str | None) -> bool:
    """Whether a link to ``parts`` was signed by this server and has not expired."""
    if not expires or not signature or not re.fullmatch(r"[0-9]{1,20}", expires) \
            or int(expires) < time.time():
        return False
    return hmac.compare_digest(_sign(parts, int(expires)), signature)
