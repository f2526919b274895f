"""The llama-parse client's form fields as typed parameters, and the v1 routes' 4xx."""

from __future__ import annotations

import io
from typing import Any

import pytest

from batchsvc.api.parsing_v1 import form_parameters
from batchsvc.errors import Invalid
from tests.conftest import new_key


def test_form_fields_are_typed_as_the_schema_types_them() -> None:
    params = form_parameters({
        "from_python_package": "true", "language": "en", "max_pages": "3",
        "page_error_tolerance": "0.5", "take_screenshot": "true", "target_pages": "0,2",
        "images_to_save": "screenshot,embedded", "webhook_configurations":
            '[{"webhook_url": "https://example.com/h"}]', "page_separator": "\n=\n",
        "some_future_option": "x"})
    assert params == {
        "languages": ["en"], "max_pages": 3, "page_error_tolerance": 0.5,
        "take_screenshot": True, "target_pages": "0,2",
        "images_to_save": ["screenshot", "embedded"],
        "webhook_configurations": [{"webhook_url": "https://example.com/h"}],
        "page_separator": "\n=\n", "some_future_option": "x"}


@pytest.mark.parametrize(("form", "field"), [
    ({"max_pages": "three"}, "max_pages"), ({"take_screenshot": "maybe"}, "take_screenshot"),
    ({"language": "klingon"}, "languages"), ({"webhook_configurations": "[1"}, "webhook"),
])
def test_bad_form_fields_are_named(form: dict[str, str], field: str) -> None:
    with pytest.raises(Invalid) as bad:
        form_parameters(form)
    assert field in str(bad.value.detail)


@pytest.fixture()
def api(sqlite_settings: Any) -> Any:
    from batchsvc.app import create_app

    client = create_app().test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {new_key()}"
    return client


def test_routes_4xx(api: Any) -> None:
    missing = api.post("/api/parsing/upload", data={"max_pages": "2"})
    assert missing.status_code == 422 and "file" in str(missing.get_json()["detail"])
    job = api.post("/api/parsing/upload", data={"file": (io.BytesIO(b"hello"), "a.txt")})
    assert job.status_code == 200 and job.get_json()["status"] == "PENDING"
    job_id = job.get_json()["id"]
    assert api.get(f"/api/parsing/job/{job_id}").get_json()["status"] == "PENDING"
    for path in (f"/api/parsing/job/{job_id}/result/markdown",  # not done yet
                 f"/api/parsing/job/{job_id}/result/pdf", "/api/parsing/job/nope"):
        answer = api.get(path)
        assert answer.status_code == 404 and answer.get_json()["detail"], path


def test_a_selection_past_the_end_fails_with_the_code_the_client_reads() -> None:
    from batchsvc.engines.parse import ParseError, parse_document
    from batchsvc.models import JobItem
    from batchsvc.services.parsing_v1 import status_view
    from tests.unit.engines.pdfgen import report_pages

    with pytest.raises(ParseError) as past:
        parse_document(report_pages(3), "r.pdf", {"target_pages": "4-5"})
    assert "3 pages" in str(past.value)
    item = JobItem(result_job_id="j", status="failed", error_message=str(past.value))
    assert status_view(item)["error_code"] == "NO_DATA_FOUND_IN_FILE"
    item.error_message = "the document is corrupt"
    assert status_view(item)["error_code"] == "DOCUMENT_ERROR"


def test_both_prefixes_need_a_key(sqlite_settings: Any) -> None:
    from batchsvc.app import create_app

    anonymous = create_app().test_client()
    for prefix in ("/api/parsing", "/api/v1/parsing"):
        for path in ("/job/x", "/job/x/result/markdown", "/job/x/result/raw/text",
                     "/job/x/result/image/page_1.jpg"):
            assert anonymous.get(prefix + path).status_code == 401, prefix + path
        assert anonymous.post(prefix + "/upload").status_code == 401
