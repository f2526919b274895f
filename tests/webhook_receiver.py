"""A real HTTP webhook receiver on 127.0.0.1 that records every request it gets.

Paths choose the behaviour: a script of status codes per path (``script``), ``/hold/...``
answers only after ``release()``, ``/redirect/...`` answers 302, ``/big/...`` streams a
body far larger than any sender should read; everything else answers 200.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def payload(self) -> dict[str, Any]:
        """The event, whichever output format carried it."""
        value = json.loads(self.body)
        return json.loads(value) if isinstance(value, str) else value


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, list[int]] = {}
        self.held = threading.Event()
        self.big_fully_sent: list[bool] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                        time.monotonic()))
                    script = receiver.scripts.get(self.path)
                    status = script.pop(0) if script else 200
                # OSError: the sender gave up (timeout or size cap), which is the point.
                with contextlib.suppress(OSError):
                    self._answer(status)

            def _answer(self, status: int) -> None:
                if self.path.startswith("/hold/"):
                    receiver.held.wait(60)
                if self.path.startswith("/redirect/"):
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                    self.end_headers()
                    return
                if self.path.startswith("/big/"):
                    self._big()
                    return
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def _big(self) -> None:
                chunk, count = b"x" * 65536, 1024  # 64 MiB, far past any socket buffer
                self.send_response(200)
                self.send_header("Content-Length", str(len(chunk) * count))
                self.end_headers()
                sent = False
                try:
                    for _ in range(count):
                        self.wfile.write(chunk)
                    sent = True
                finally:
                    receiver.big_fully_sent.append(sent)

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def release(self) -> None:
        self.held.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
