"""v2 parse options onto the engine's parameters, and the 4xx of /api/v2/parse naming each
field."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from batchsvc.engines.parse.options import KNOWN_OPTIONS
from batchsvc.services.parse_options import _DIRECT, to_parameters
from tests.conftest import new_key


def test_every_mapped_option_is_an_engine_option() -> None:
    assert {name for _, name, _ in _DIRECT} <= KNOWN_OPTIONS


def test_mapping_and_report() -> None:
    params, skipped = to_parameters({
        "tier": "fast", "version": "latest", "file_id": "f", "user_metadata": {"a": "b"},
        "page_ranges": {"target_pages": "1,3-5", "max_pages": 4},
        "disable_cache": True,
        "output_options": {"images_to_save": ["screenshot"], "granular_bboxes": ["word"],
                           "markdown": {"tables": {"output_tables_as_markdown": False,
                                                   "compact_markdown_tables": True}}},
        "processing_options": {"ocr_parameters": {"languages": ["fr"]},
                               "ignore": {"ignore_text_in_image": True},
                               "cost_optimizer": {"enable": True}},
        "processing_control": {"timeouts": {"base_in_seconds": 30},
                               "job_failure_conditions": {"allowed_page_failure_ratio": 0.5}},
        "crop_box": {"top": 0.2, "bottom": None}, "http_proxy": "http://proxy:3128",
    })
    assert params == {
        "target_pages": "0,2-4", "max_pages": 4, "invalidate_cache": True,
        "images_to_save": ["screenshot"], "output_tables_as_HTML": True,
        "compact_markdown_table": True, "languages": ["fr"], "job_timeout_in_seconds": 30,
        "page_error_tolerance": 0.5}
    reasons = {s["option"]: s["reason"] for s in skipped}
    assert set(reasons) == {"output_options.granular_bboxes",
                            "processing_options.ignore.ignore_text_in_image",
                            "processing_options.cost_optimizer", "crop_box", "http_proxy"}
    assert "cropping" in reasons["crop_box"]


def test_unset_options_are_not_reported_and_tiers_ask_for_a_model() -> None:
    params, skipped = to_parameters({"tier": "fast", "version": "latest", "crop_box": {
        "top": None}, "output_options": {"granular_bboxes": []}, "disable_cache": None})
    assert params == {} and skipped == []
    params, skipped = to_parameters({"tier": "agentic_plus", "version": "latest",
                                     "agentic_options": {"custom_prompt": "p"}})
    assert params == {"parse_mode": "parse_page_with_agent", "user_prompt": "p"}
    _, skipped = to_parameters({"tier": "fast", "version": "latest",
                                "agentic_options": {"custom_prompt": "p"}})
    assert [s["option"] for s in skipped] == ["agentic_options.custom_prompt"]


@pytest.mark.parametrize("spec", ["0", "3-1", "a", "1,,x", ","])
def test_bad_target_pages(spec: str) -> None:
    with pytest.raises(ValueError, match="page_ranges.target_pages"):
        to_parameters({"tier": "fast", "version": "latest",
                       "page_ranges": {"target_pages": spec}})


@pytest.fixture()
def api(sqlite_settings: Any) -> Any:
    from batchsvc.app import create_app

    client = create_app().test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {new_key()}"
    return client


def _fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.get_json()
    return [".".join(str(x) for x in e["loc"]) for e in response.get_json()["detail"]]


OK = {"tier": "fast", "version": "latest", "file_id": "f-1"}
BAD_BODIES = [
    ({"version": "latest", "file_id": "f"}, "body.tier"),
    ({"tier": "fast", "file_id": "f"}, "body.version"),
    ({"tier": "fast", "version": "latest"}, "body.file_id"),
    ({**OK, "source_url": "http://example.com/a.pdf"}, "body.source_url"),
    ({**OK, "page_ranges": {"max_pages": 0}}, "body.page_ranges.max_pages"),
    ({**OK, "page_ranges": {"target_pages": "0"}}, "body.page_ranges.target_pages"),
    ({**OK, "crop_box": {"top": 2}}, "body.crop_box.top"),
    ({**OK, "output_options": {"images_to_save": ["all"]}},
     "body.output_options.images_to_save.0"),
    ({**OK, "processing_options": {"ocr_parameters": {"languages": ["xx"]}}},
     "body.processing_options.ocr_parameters.languages.0"),
    ({**OK, "user_metadata": {"k": 1}}, "body.user_metadata.k.value"),
    ({**OK, "configuration_id": "cfg"}, "body.configuration_id"),
    ({**OK, "webhook_configurations": [{"webhook_url": "http://h/x",
                                        "webhook_events": ["nope"]}]},
     "body.webhook_configurations.0.webhook_events.0"),
    (OK, "body.file_id"),  # no such file
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_create_422_names_the_field(api: Any, body: dict[str, Any], field: str) -> None:
    assert field in _fields(api.post("/api/v2/parse", json=body))


def test_upload_and_list_and_get_4xx(api: Any) -> None:
    assert "body.file" in _fields(api.post("/api/v2/parse/upload", data={
        "configuration": json.dumps({"tier": "fast", "version": "latest"})}))
    assert "body.configuration" in _fields(api.post("/api/v2/parse/upload", data={
        "file": (io.BytesIO(b"%PDF-1.4\n"), "a.pdf")}))
    bad = api.post("/api/v2/parse/upload", data={
        "file": (io.BytesIO(b"%PDF-1.4\n"), "a.pdf"),
        "configuration": json.dumps({"tier": "fast", "version": "latest",
                                     "page_ranges": {"max_pages": "x"}})})
    assert "configuration.page_ranges.max_pages" in _fields(bad)
    assert "query.status" in _fields(api.get("/api/v2/parse?status=DONE"))
    assert "query.page_size" in _fields(api.get("/api/v2/parse?page_size=0"))
    assert "query.page_token" in _fields(api.get("/api/v2/parse?page_token=zz"))
    assert "query.created_at_on_or_after" in _fields(
        api.get("/api/v2/parse?created_at_on_or_after=yesterday"))
    assert api.get("/api/v2/parse/nope").status_code == 404
    assert api.get("/api/v2/parse").get_json() == {"items": [], "next_page_token": None}
    assert api.get("/api/v2/parse/x/content/text?expires=1&signature=0").status_code == 403


def test_size_skipped_items_are_failed_jobs(sqlite_settings: Any) -> None:
    from batchsvc.services import parse_jobs
    from batchsvc.uow import unit_of_work

    with unit_of_work() as session:
        stored = parse_jobs.store_upload(session, "p", "a.txt", io.BytesIO(b"hello"))
        item, _ = parse_jobs.create_parse(session, "p", {"tier": "fast", "version": "latest",
                                                         "file_id": stored.id})
        item.status, item.error_message = "skipped", "file is 5 bytes; the limit is 1"
        parse_id = item.result_job_id
    with unit_of_work() as session:
        item, job = parse_jobs.find_item(session, "p", parse_id)
        assert parse_jobs.job_view(item, job)["status"] == "FAILED"
        listed = {s: [j["id"] for j in parse_jobs.list_parse_jobs(
            session, "p", {"status": s})["items"]] for s in ("FAILED", "COMPLETED")}
    assert listed == {"FAILED": [parse_id], "COMPLETED": []}
