import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

from conftest import read
from pdfgen import report_pages

from batchsvc.engines.llm import LLMConfig
from batchsvc.engines.parse import ParseResult, parse_document, render_v2

ALL = ("text", "markdown", "items", "metadata", "markdown_full", "text_full", "job_metadata",
       "images_content_metadata", "result_content_metadata")
JOB = {"id": "pjb-1", "project_id": "prj-1", "status": "COMPLETED", "error_message": None,
       "created_at": datetime(2025, 1, 2, tzinfo=UTC), "updated_at": "2025-01-02T00:00:01Z",
       "internal": "not exposed"}


def test_render_v2_validates_against_sdk_model(corpus):
    from llama_cloud.types.parsing_get_response import ParsingGetResponse

    for name in ("2305.03393v1-pg9.pdf", "markitdown_test.pptx", "xlsx_01.xlsx"):
        r = parse_document(read(corpus, name), name, {"extract_printed_page_number": True})
        d = json.loads(json.dumps(r.to_dict()))
        body = json.loads(json.dumps(render_v2(d, JOB, ALL)))
        model = ParsingGetResponse.model_validate(body)
        assert model.job.id == "pjb-1" and "internal" not in body["job"]
        assert len(model.markdown.pages) == len(r.pages) == len(model.items.pages)
        assert model.markdown_full and model.text_full
        assert body["job_metadata"]["page_count"] >= 1
    # items carry typed blocks with rows for tables
    tables = [i for p in body["items"]["pages"] for i in p["items"] if i["type"] == "table"]
    assert tables and tables[0]["rows"] and tables[0]["csv"]


def test_render_v2_only_requested_and_pending():
    r = parse_document(report_pages(2), "r.pdf", {})
    body = render_v2(r.to_dict(), JOB, ["text"])
    assert set(body) == {"job", "text"}
    assert body["text"]["pages"][0]["text"].startswith("ACME Quarterly")
    assert render_v2({}, {**JOB, "status": "PENDING"}, ALL) == {"job": {
        k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in JOB.items()
        if k != "internal"} | {"status": "PENDING"}}


def test_metadata_pages_speaker_notes_roundtrip():
    import io

    from pptx import Presentation

    prs = Presentation()
    s = prs.slides.add_slide(prs.slide_layouts[1])
    s.shapes.title.text = "T"
    s.notes_slide.notes_text_frame.text = "remember this"
    buf = io.BytesIO()
    prs.save(buf)
    r = ParseResult.from_dict(parse_document(buf.getvalue(), "x", {}).to_dict())
    body = render_v2(r.to_dict(), JOB, ["metadata"])
    assert body["metadata"]["pages"] == [{"page_number": 1, "speaker_notes": "remember this"}]


class _LLM(BaseHTTPRequestHandler):
    seen: ClassVar[list] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        out = json.dumps({"choices": [{"message": {"content": "# From the model\n\nok"}}]})
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out.encode())

    def log_message(self, *a):
        pass


def test_llm_parse_mode_uses_provider_and_hides_key():
    srv = HTTPServer(("127.0.0.1", 0), _LLM)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        llm = LLMConfig(f"http://127.0.0.1:{srv.server_port}/v1", "sk-TOPSECRET", "m1", 10)
        r = parse_document(report_pages(2), "r.pdf", {
            "parse_mode": "parse_page_with_lvm", "parsing_instruction": "Be terse."}, llm=llm)
    finally:
        srv.shutdown()
        srv.server_close()
    assert [p.md for p in r.pages] == ["# From the model\n\nok"] * 2
    assert r.job_metadata["llm"] == {"base_url": llm.base_url, "model": "m1", "pages": 2,
                                     "vision": True}
    assert r.job_metadata["options_not_applied"] == []
    user = _LLM.seen[0]["messages"][1]["content"]
    assert "Be terse." in user[0]["text"] and "widgets number 7" in user[0]["text"]
    assert user[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert "TOPSECRET" not in json.dumps(r.to_dict())


def test_llm_unreachable_falls_back_to_local():
    llm = LLMConfig("http://127.0.0.1:9/v1", "k", "m", 2)
    r = parse_document(report_pages(1), "r.pdf", {"premium_mode": True}, llm=llm)
    assert "widgets number 7" in r.pages[0].md
    assert any("LLM failed" in w for w in r.job_metadata["warnings"])
