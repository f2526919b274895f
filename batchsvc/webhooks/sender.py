"""One HTTP POST to a webhook receiver: vetted address, hard deadline, no redirects, capped read.

``http.client`` follows no redirects by itself; the connection goes to an address that
``safety.resolve`` vetted a moment earlier (TLS still verifies the certificate against the
host name), and a timer shuts the socket at the deadline, so a receiver that trickles bytes
cannot hold a worker past the timeout either.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import SplitResult

from batchsvc.webhooks.safety import Refused, default_port, parse_url, resolve

MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection over a socket opened by the caller (to the vetted address)."""

    def __init__(self, host: str, port: int, sock: socket.socket) -> None:
        super().__init__(host, port)
        self.sock = sock

    def connect(self) -> None:  # the socket is already connected
        return None


def _open(addresses: list[str], port: int, deadline: float) -> socket.socket:
    last: OSError | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            return socket.create_connection((address, port), timeout=remaining)
        except OSError as exc:
            last = exc
    raise last or TimeoutError("timed out")


@contextlib.contextmanager
def pinned(url: str, deadline: float, allow_private: bool
           ) -> Iterator[tuple[http.client.HTTPConnection, str, str]]:
    """(connection, path with query, Host header) for ``url``: the socket goes to an address
    of its host that ``safety.resolve`` vetted (Refused otherwise), TLS verifies the host
    name, and a timer shuts the socket at ``deadline`` so nobody trickles bytes past it."""
    parts = parse_url(url)
    host, port = parts.hostname or "", default_port(parts)
    addresses = resolve(host, port, allow_private)
    sock = _open(addresses, port, deadline)
    timer: threading.Timer | None = None
    try:
        if parts.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        timer = threading.Timer(max(deadline - time.monotonic(), 0.0), _shut, args=(sock,))
        timer.daemon = True
        timer.start()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        yield _PinnedConnection(host, port, sock), path, _host_header(parts)
    finally:
        if timer is not None:
            timer.cancel()
        sock.close()


def describe(exc: BaseException, timeout: float) -> str:
    """A network failure as a readable reason."""
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or type(exc).__name__}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionError, http.client.HTTPException, OSError)):
        return f"connection failed: {type(exc).__name__}"
    return f"failed: {type(exc).__name__}"


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float,
         allow_private: bool) -> Outcome:
    """POST ``body``; never raises for anything the network or the receiver does."""
    started = time.monotonic()
    deadline = started + timeout

    def elapsed() -> float:
        return round((time.monotonic() - started) * 1000, 1)

    try:
        with pinned(url, deadline, allow_private) as (conn, path, host_header):
            conn.request("POST", path, body=body, headers={"Host": host_header, **headers})
            response = conn.getresponse()
            response.read(MAX_RESPONSE_BYTES)  # drained only so far; the body is never stored
            status = response.status
    except Refused as exc:
        return Outcome(None, elapsed(), f"refused: {exc}")
    except Exception as exc:  # noqa: BLE001 - every failure is an attempt outcome
        timed_out = time.monotonic() >= deadline
        return Outcome(None, elapsed(),
                       describe(TimeoutError() if timed_out else exc, timeout))
    if 300 <= status < 400:
        return Outcome(status, elapsed(), f"HTTP {status}: redirects are not followed")
    return Outcome(status, elapsed(), None if 200 <= status < 300 else f"HTTP {status}")


def _host_header(parts: SplitResult) -> str:
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return host if parts.port in (None, 80 if parts.scheme == "http" else 443) \
        else f"{host}:{parts.port}"


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
