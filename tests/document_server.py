"""A real HTTP server on 127.0.0.1 serving documents, for URL inputs (source_url, input_url).

``/docs/<name>``: a corpus file; ``/to/<path>``: 302 to ``/<path>``; ``/away``: 302 to a cloud
metadata address (refused even where private networks are allowed); ``/loop``: redirects to
itself; ``/slow``: trickles a byte a second; ``/big``: declares and sends more than asked;
anything else: 404. Every request is counted by path."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class DocumentServer:
    def __init__(self, root: Path) -> None:
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.hits[self.path] += 1
                if self.path.startswith("/docs/") and (root / self.path[6:]).is_file():
                    self._send(200, (root / self.path[6:]).read_bytes())
                elif self.path.startswith("/to/"):
                    self._redirect(self.path[3:])
                elif self.path == "/away":
                    self._redirect("http://169.254.169.254/latest/meta-data/")
                elif self.path == "/loop":
                    self._redirect("/loop")
                elif self.path == "/slow":
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    # The client gives up at its deadline.
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        for _ in range(100):
                            time.sleep(1)
                            self.wfile.write(b"x")
                            self.wfile.flush()
                elif self.path == "/big":
                    self._send(200, b"%PDF" + b"0" * 5_000_000)
                else:
                    self._send(404, b"not here")

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # The client may stop reading at its size cap.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
