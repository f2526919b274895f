"""The ``llama-parse`` 0.6.94 client (LlamaIndex's reader) against a live batchsvc, in both
modes: the v1 routes /api/parsing/upload, /job/{id}, /job/{id}/result/{type}."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from batchsvc.engines.parse import parse_document
from batchsvc.engines.parse.render import full_markdown, full_text, page_markdown
from tests.conformance.sdk_flow import read_bytes
from tests.harness import CORPUS

pytestmark = pytest.mark.conformance
# Installed by `make llama-parse` (its own dependency set, see the Makefile).
CLIENT_ENV = Path(os.environ.get("BATCHSVC_TEST_LLAMA_PARSE",
                                 Path(sys.executable).parents[1] / "llama-parse"))
DOC, OTHER = "pdflatex-4-pages.pdf", "multi_page.pdf"
V1_SEPARATOR = "\n---\n"


@pytest.fixture(params=["embedded", "cluster"])
def stack(request: pytest.FixtureRequest):
    if not (CLIENT_ENV / "llama_parse").is_dir():
        pytest.fail(f"llama-parse is not installed in {CLIENT_ENV}: run `make llama-parse`")
    return request.getfixturevalue(f"{request.param}_stack")


def client(stack: Any, call: str, files: Any, download_path: str | None = None,
           **options: Any) -> Any:
    request = {"api_key": stack.key, "base_url": stack.url, "call": call,
               "files": files, "options": options, "download_path": download_path}
    done = subprocess.run([sys.executable, str(Path(__file__).with_name(
        "llama_parse_client.py"))], input=json.dumps(request), capture_output=True,
        text=True, timeout=300, env={"PATH": os.environ["PATH"], "PYTHONPATH": str(CLIENT_ENV),
                                     "HOME": os.environ.get("HOME", "/tmp")})
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout)
    assert answer["ok"], answer["error"]
    return answer["result"]


def engine(name: str, **params: Any) -> dict[str, Any]:
    """The engine's own result for the options the client sends, without the service."""
    params = {"languages": ["en"], "page_separator": V1_SEPARATOR, **params}
    return parse_document(read_bytes(name), name, params).to_dict()


def test_load_data_markdown_text_and_pages(stack) -> None:
    expected = engine(DOC)
    ro = expected["render_options"]
    # The client's default splits by page, on its own separator.
    pages = client(stack, "load_data", str(CORPUS / DOC), result_type="markdown")
    assert [p["text"] for p in pages] == [page_markdown(p, ro) for p in expected["pages"]]
    assert len(pages) == 4 and all(p["text"].strip() for p in pages)
    (doc,) = client(stack, "load_data", str(CORPUS / DOC), result_type="text",
                    split_by_page=False)
    assert doc["text"] == full_text(expected)
    pages = client(stack, "load_bytes", str(CORPUS / DOC), result_type="markdown",
                   target_pages="0,2", page_separator="\n=====\n")
    chosen = engine(DOC, target_pages="0,2", page_separator="\n=====\n")
    assert [p["text"] for p in pages] == [page_markdown(p, ro) for p in chosen["pages"]]
    assert len(pages) == 2


def test_list_with_workers_and_async(stack) -> None:
    files = [str(CORPUS / DOC), str(CORPUS / OTHER)]
    docs = client(stack, "load_data", files, result_type="markdown", num_workers=2,
                  split_by_page=False)
    assert [d["text"] for d in docs] == [full_markdown(engine(DOC)), full_markdown(engine(OTHER))]
    docs = client(stack, "aload_data", files, result_type="text", num_workers=2)
    assert len(docs) == len(engine(DOC)["pages"]) + len(engine(OTHER)["pages"])
    # Partitions: a job per two pages, read until one holds no page of the document.
    expected = engine(DOC)
    pages = client(stack, "load_data", str(CORPUS / DOC), partition_pages=2)
    assert [p["text"] for p in pages] == [page_markdown(p, expected["render_options"])
                                          for p in expected["pages"]]


def test_json_result_options_reported_and_status(stack) -> None:
    (result,) = client(stack, "get_json_result", str(CORPUS / DOC), max_pages=2,
                       parsing_instruction="Summarise every table")
    expected = engine(DOC, max_pages=2)
    assert [p["page"] for p in result["pages"]] == [1, 2]
    assert [p["md"] for p in result["pages"]] == [p["md"] for p in expected["pages"]]
    meta = result["job_metadata"]
    assert meta["job_pages"] == 2
    skipped = {o["option"] for o in meta["batchsvc"]["options_not_applied"]}
    assert "parsing_instruction" in skipped
    status = requests.get(f"{stack.url}/api/parsing/job/{result['job_id']}",
                          headers=stack.headers(), timeout=30).json()
    assert status == {"id": result["job_id"], "status": "SUCCESS", "error_code": None,
                      "error_message": None}
    # The same job answers the v2 SDK too: one pipeline, one id.
    sdk = stack.sdk().parsing.get(result["job_id"], expand=["text"])
    assert sdk.job.status == "COMPLETED" and len(sdk.text.pages) == 2


def test_get_images(stack, tmp_path: Path) -> None:
    name = "pdffill-demo.pdf"
    answer = client(stack, "get_images", str(CORPUS / name), max_pages=1,
                    take_screenshot=True, download_path=str(tmp_path))
    own = {im.name: im.data for im in parse_document(
        read_bytes(name), name, {"max_pages": 1, "take_screenshot": True,
                                 "save_images": True}, keep_images=True).images}
    (result,) = answer["json"]
    listed = [im["name"] for im in result["pages"][0]["images"]]
    assert listed == list(own) and "page_1.jpg" in listed and len(listed) > 2
    saved = {Path(a["path"]).name.split("-", 5)[-1]: Path(a["path"]).read_bytes()
             for a in answer["images"]}
    assert saved == own


def test_url_input(stack) -> None:
    from tests.document_server import DocumentServer

    documents = DocumentServer(CORPUS)
    try:
        (doc,) = client(stack, "load_data", f"{documents.url}/docs/{DOC}", split_by_page=False)
        assert doc["text"] == full_markdown(engine(DOC))
        with pytest.raises(AssertionError, match="cloud metadata address"):
            client(stack, "load_data", f"{documents.url}/away")
    finally:
        documents.stop()


def test_job_result_api(stack) -> None:
    name = "pdffill-demo.pdf"
    job = client(stack, "parse", str(CORPUS / name), take_screenshot=True)
    expected = engine(name, take_screenshot=True, save_images=True)
    ro = expected["render_options"]
    assert job["pages"] == [page_markdown(p, ro) for p in expected["pages"]]
    assert job["markdown"] == "\n\n".join(page_markdown(p, ro) for p in expected["pages"])
    assert job["text"].strip() and job["json_pages"] == len(expected["pages"])
    own = {im.name: im.data.hex() for im in parse_document(
        read_bytes(name), name, {"take_screenshot": True, "save_images": True},
        keep_images=True).images}
    assert job["images"] == own and len(own) > 2


def test_errors_reach_the_client(stack) -> None:
    bad = requests.post(f"{stack.url}/api/parsing/upload", headers=stack.headers(),
                        files={"file": ("a.pdf", b"%PDF-1.4 not really")},
                        data={"max_pages": "three"}, timeout=30)
    assert bad.status_code == 422 and "max_pages" in bad.text
    job = requests.post(f"{stack.url}/api/parsing/upload", headers=stack.headers(),
                        files={"file": ("a.pdf", b"%PDF-1.4 not really")}, timeout=30).json()
    assert job["status"] == "PENDING"
    # A document that fails: the client raises with the item's readable error.
    with pytest.raises(AssertionError, match="status: ERROR.*could not|status: ERROR.*PDF"):
        client(stack, "load_bytes", str(_write_broken(stack)), ignore_errors=False)
    missing = requests.get(f"{stack.url}/api/parsing/job/nope/result/markdown",
                           headers=stack.headers(), timeout=30)
    assert missing.status_code == 404 and missing.json()["detail"]


def _write_broken(stack: Any) -> Path:
    path = Path(stack.settings.data_dir) / "broken.pdf"
    path.write_bytes(b"%PDF-1.4 not really")
    return path
