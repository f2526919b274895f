import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from batchsvc.engines.llm import LLMConfig, LLMError, chat


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list] = []
    status = 200
    reply: object = None

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                "body": body})
        out = json.dumps(type(self).reply).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    _Handler.seen = []
    _Handler.status = 200
    _Handler.reply = {"choices": [{"message": {"role": "assistant", "content": "hello back"}}]}
    srv = HTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}/v1"
    srv.shutdown()
    srv.server_close()


def test_chat_posts_to_chat_completions(server):
    cfg = LLMConfig(base_url=server + "/", api_key="sk-test", model="tiny", timeout=5)
    out = chat(cfg, [{"role": "user", "content": "hi"}], temperature=0)
    assert out == "hello back"
    req = _Handler.seen[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "tiny"
    assert req["body"]["temperature"] == 0
    assert req["body"]["messages"][0]["content"] == "hi"


def test_chat_http_error_is_llm_error(server):
    _Handler.status = 500
    _Handler.reply = {"error": "boom"}
    cfg = LLMConfig(base_url=server, api_key="sk-test", model="tiny", timeout=5)
    with pytest.raises(LLMError, match="HTTP 500"):
        chat(cfg, [{"role": "user", "content": "hi"}])


def test_chat_bad_shape_and_content_parts(server):
    cfg = LLMConfig(base_url=server, api_key="", model="tiny", timeout=5)
    _Handler.reply = {"choices": [{"message": {"content": [{"type": "text", "text": "a"},
                                                           {"type": "text", "text": "b"}]}}]}
    assert chat(cfg, []) == "ab"
    assert _Handler.seen[-1]["auth"] is None
    _Handler.reply = {"nope": 1}
    with pytest.raises(LLMError, match="unexpected"):
        chat(cfg, [])


def test_unreachable_and_key_not_in_repr():
    cfg = LLMConfig(base_url="http://127.0.0.1:9", api_key="sk-secret", model="m", timeout=2)
    assert "sk-secret" not in repr(cfg)
    assert "sk-secret" not in json.dumps(cfg.describe())
    with pytest.raises(LLMError, match="unreachable"):
        chat(cfg, [])
