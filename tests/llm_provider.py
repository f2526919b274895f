"""An OpenAI-compatible provider on 127.0.0.1 for tests: a real HTTP server that records
every /chat/completions request and answers as configured."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def has_image(body: dict[str, Any]) -> bool:
    return any(isinstance(m["content"], list)
               and any(p.get("type") == "image_url" for p in m["content"])
               for m in body["messages"])


class FakeProvider:
    """Answers ``content`` as the assistant's message, or ``reply`` verbatim when set; a
    status other than 200 answers an error body; ``refuse_images`` makes it a text-only model
    that answers 400 to any image part."""

    def __init__(self, content: str = "") -> None:
        self.seen: list[dict[str, Any]] = []
        self.status = 200
        self.content = content
        self.reply: Any = None
        self.refuse_images = False
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                provider.seen.append({"path": self.path, "body": body,
                                      "auth": self.headers.get("Authorization")})
                status, reply = provider.answer(body)
                out = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=lambda: self._server.serve_forever(poll_interval=0.05), daemon=True)

    def answer(self, body: dict[str, Any]) -> tuple[int, Any]:
        if self.refuse_images and has_image(body):
            return 400, {"error": {"message": "Image input is not supported by this model",
                                   "type": "invalid_request_error"}}
        if self.reply is not None:
            return self.status, self.reply
        if self.status != 200:
            return self.status, {"error": "down"}
        return 200, {"choices": [{"message": {"role": "assistant", "content": self.content}}]}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
