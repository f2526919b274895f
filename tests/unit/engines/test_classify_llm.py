"""MULTIMODAL mode against a real HTTP test double of an OpenAI-compatible provider."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from batchsvc.engines.classify import classify_text, classify_texts
from batchsvc.engines.llm import LLMConfig

RULES = [
    {"type": "invoice", "description": "A bill from a supplier listing items and amounts due."},
    {"type": "receipt", "description": "Proof of a payment already made at a shop."},
]
INVOICE = ("INVOICE No. 77. Bill to: Harbour Cafe. 12 boxes of cups at 4.50 each, "
           "total due 54.00 EUR by 30 June. Pay by bank transfer.")


class _Provider(BaseHTTPRequestHandler):
    seen: ClassVar[list] = []
    status = 200
    content = ""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                "body": body})
        reply = {"choices": [{"message": {"role": "assistant", "content": type(self).content}}]}
        out = json.dumps(reply if type(self).status == 200 else {"error": "down"}).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture()
def llm():
    _Provider.seen = []
    _Provider.status = 200
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield LLMConfig(base_url=f"http://127.0.0.1:{srv.server_port}/v1", api_key="sk-test",
                    model="tiny-judge", timeout=5)
    srv.shutdown()
    srv.server_close()


def answer(**kw):
    _Provider.content = json.dumps(kw)


def test_provider_answer_becomes_the_result(llm):
    answer(type="invoice", confidence=0.87, reasoning="It lists items and a total due.")
    res = classify_text(INVOICE, RULES, mode="MULTIMODAL", llm=llm)
    assert res.to_dict() == {
        "type": "invoice", "confidence": 0.87, "reasoning": "It lists items and a total due.",
        "mode_used": "MULTIMODAL", "notes": ["classified by model 'tiny-judge'"],
    }
    req = _Provider.seen[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "tiny-judge"
    prompt = req["body"]["messages"][-1]["content"]
    assert "- invoice: A bill from a supplier" in prompt and "- receipt:" in prompt
    assert "INVOICE No. 77" in prompt


def test_answer_in_prose_and_fences_with_other_case_is_accepted(llm):
    _Provider.content = ('Sure!\n```json\n{"type": "Receipt", "confidence": "0.6", '
                         '"reasoning": "Says PAID."}\n```')
    res = classify_text("PAID 12.00 thank you", RULES, mode="multimodal", llm=llm)
    assert (res.type, res.confidence, res.mode_used) == ("receipt", 0.6, "MULTIMODAL")


def test_null_type_means_no_rule_fits(llm):
    answer(type=None, confidence=0.9, reasoning="A poem, not a financial document.")
    res = classify_text("Roses are red.", RULES, mode="MULTIMODAL", llm=llm)
    assert res.type is None and res.mode_used == "MULTIMODAL"


def test_type_outside_the_rules_is_rejected_and_fast_used(llm):
    answer(type="contract", confidence=0.99, reasoning="Looks legal.")
    res = classify_text(INVOICE, RULES, mode="MULTIMODAL", llm=llm)
    assert res.mode_used == "FAST"
    assert res.type in ("invoice", "receipt")
    assert res.notes == ["MULTIMODAL failed (provider answer rejected: answered type "
                         "'contract' is not one of the rules); FAST used"]


def test_unparseable_answer_falls_back(llm):
    _Provider.content = "I think it is an invoice."
    res = classify_text(INVOICE, RULES, mode="MULTIMODAL", llm=llm)
    assert res.mode_used == "FAST" and "answer contains no JSON object" in res.notes[0]


def test_provider_error_falls_back_per_document(llm):
    _Provider.status = 503
    results = classify_texts([INVOICE, "PAID 12.00 thank you"], RULES, mode="MULTIMODAL",
                             llm=llm)
    assert len(_Provider.seen) == 2
    for res in results:
        assert res.mode_used == "FAST"
        assert res.notes[0].startswith("MULTIMODAL failed (provider error: LLM provider "
                                       "returned HTTP 503")
        assert "sk-test" not in res.notes[0]


def test_no_provider_configured_runs_fast_and_says_so():
    res = classify_text(INVOICE, RULES, mode="MULTIMODAL", llm=None)
    assert res.mode_used == "FAST"
    assert res.type == "invoice"
    assert res.notes == ["MULTIMODAL requested but no model provider configured; FAST used"]


def test_fast_mode_never_calls_the_provider(llm):
    res = classify_text(INVOICE, RULES, mode="FAST", llm=llm)
    assert res.mode_used == "FAST" and _Provider.seen == []
