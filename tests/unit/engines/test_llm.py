import json

import pytest

from batchsvc.engines.llm import LLMConfig, LLMError, chat
from tests.llm_provider import FakeProvider


@pytest.fixture()
def server():
    with FakeProvider("hello back") as provider:
        yield provider


def test_chat_posts_to_chat_completions(server):
    cfg = LLMConfig(base_url=server.url + "/", api_key="sk-test", model="tiny", timeout=5)
    out = chat(cfg, [{"role": "user", "content": "hi"}], temperature=0)
    assert out == "hello back"
    req = server.seen[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "tiny"
    assert req["body"]["temperature"] == 0
    assert req["body"]["messages"][0]["content"] == "hi"


def test_chat_http_error_is_llm_error(server):
    server.status = 500
    server.reply = {"error": "boom"}
    cfg = LLMConfig(base_url=server.url, api_key="sk-test", model="tiny", timeout=5)
    with pytest.raises(LLMError, match="HTTP 500"):
        chat(cfg, [{"role": "user", "content": "hi"}])


def test_chat_bad_shape_and_content_parts(server):
    cfg = LLMConfig(base_url=server.url, api_key="", model="tiny", timeout=5)
    server.reply = {"choices": [{"message": {"content": [{"type": "text", "text": "a"},
                                                           {"type": "text", "text": "b"}]}}]}
    assert chat(cfg, []) == "ab"
    assert server.seen[-1]["auth"] is None
    server.reply = {"nope": 1}
    with pytest.raises(LLMError, match="unexpected"):
        chat(cfg, [])


def test_unreachable_and_key_not_in_repr():
    cfg = LLMConfig(base_url="http://127.0.0.1:9", api_key="sk-secret", model="m", timeout=2)
    assert "sk-secret" not in repr(cfg)
    assert "sk-secret" not in json.dumps(cfg.describe())
    with pytest.raises(LLMError, match="unreachable"):
        chat(cfg, [])
