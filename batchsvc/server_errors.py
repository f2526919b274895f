"""The standard error body for the errors gunicorn answers itself, before the app sees the
request (request line or headers too large, malformed request line): ``{"detail": ...}``
as JSON instead of gunicorn's HTML page, so every 4xx a client can get has one shape."""

from __future__ import annotations

import json
import socket


def _write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    from gunicorn.util import write_nonblock

    body = json.dumps({"detail": mesg or reason}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    write_nonblock(sock, head.encode("latin1") + body)


def install() -> None:
    """Make gunicorn's workers write JSON error bodies (no-op outside gunicorn)."""
    try:
        from gunicorn import util
    except ImportError:
        return
    # Workers look the function up on the module at each error, so replacing it is enough.
    util.write_error = _write_json_error
