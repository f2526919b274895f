"""Hostile and careless requests: each gets a 4xx naming what was wrong, never a 500;
idempotent create; upload types come from the bytes, not the name."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from schemas.batch import MAX_ITEM_IDS
from tests.conftest import Stack
from tests.harness import CORPUS

pytestmark = pytest.mark.integration
BETA = "/api/v1/beta"
CREATE = f"{BETA}/batch-processing"


def _post(stack: Stack, path: str, **kw: Any) -> requests.Response:
    headers = stack.headers() | kw.pop("headers", {})
    return requests.post(stack.url + path, headers=headers, timeout=60, **kw)


@pytest.fixture(scope="module")
def item_id(stack: Stack) -> str:
    directory = _post(stack, f"{BETA}/directories", json={"name": "req"}).json()["id"]
    return _post(stack, f"{BETA}/directories/{directory}/files/upload",
                 files={"upload_file": ("a.txt", b"hello")}).json()["id"]


def _body(item_id: str, **params: Any) -> dict[str, Any]:
    return {"job_config": {"parameters": params}, "item_ids": [item_id]}


def test_idempotency_key_same_body_same_job_other_body_409(stack: Stack, item_id: str) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = _post(stack, CREATE, json=_body(item_id), headers=key)
    again = _post(stack, CREATE, json=_body(item_id), headers=key)
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    other = _post(stack, CREATE, json=_body(item_id, max_pages=1), headers=key)
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]
    # Without the header every create is a new job.
    assert _post(stack, CREATE, json=_body(item_id)).json()["id"] != first.json()["id"]


def test_idempotency_key_under_concurrent_creates(stack: Stack, item_id: str) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: _post(stack, CREATE, json=_body(item_id),
                                                  headers=key), range(6)))
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1


def test_idempotency_key_too_long_names_the_header(stack: Stack, item_id: str) -> None:
    response = _post(stack, CREATE, json=_body(item_id), headers={"Idempotency-Key": "k" * 300})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


def test_body_over_the_limit_is_413(stack: Stack, item_id: str) -> None:
    padding = "x" * (stack.settings.max_body_bytes + 10)
    response = _post(stack, CREATE, json={**_body(item_id), "pad": padding})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


@pytest.mark.parametrize("data,content_type", [
    (b"{not json", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b"job_config=1", "application/x-www-form-urlencoded"),
])
def test_malformed_bodies_are_4xx_with_detail(stack: Stack, data: bytes,
                                              content_type: str) -> None:
    response = _post(stack, CREATE, data=data, headers={"Content-Type": content_type})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize("body,loc", [
    ({"job_config": {"parameters": {}}, "item_ids": "abc"}, ["body", "item_ids"]),
    ({"job_config": {"parameters": {"max_pages": "many"}}, "item_ids": ["x"]},
     ["body", "job_config", "parameters", "max_pages"]),
    ({"job_config": [], "item_ids": ["x"]}, ["body", "job_config"]),
    ({"job_config": {"parameters": {}}, "item_ids": ["x"], "page_size": -5},
     ["body", "page_size"]),
    ({"job_config": {"parameters": {}}, "item_ids": ["same", "same"]}, ["body", "item_ids"]),
    ({"job_config": {"parameters": {}}, "item_ids": [f"id-{n}" for n in range(MAX_ITEM_IDS + 1)]},
     ["body", "item_ids"]),
])
def test_wrong_types_and_shapes_name_the_field(stack: Stack, body: dict[str, Any],
                                               loc: list[Any]) -> None:
    response = _post(stack, CREATE, json=body)
    assert response.status_code == 422, response.text
    locs = [entry["loc"] for entry in response.json()["detail"]]
    assert loc in locs, locs


def test_ten_thousand_unknown_item_ids_are_one_422(stack: Stack) -> None:
    ids = [f"dfl-{n}" for n in range(10_000)]
    response = _post(stack, CREATE, json={"job_config": {"parameters": {}}, "item_ids": ids})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "item_ids", 0]


@pytest.mark.parametrize("name,shown", [
    ("../../etc/passwd", "passwd"),
    # The multipart parser already reads backslashes as quoting; no separator survives.
    ("..\\..\\windows\\system.ini", "....windowssystem.ini"),
    ("/abs/path/é 文件 🚀.txt", "é 文件 🚀.txt"),
    ("ctrl\x00\x1b[31mred.txt", "ctrl[31mred.txt"),
])
def test_unicode_and_path_traversal_file_names(stack: Stack, name: str, shown: str) -> None:
    directory = _post(stack, f"{BETA}/directories", json={"name": "names"}).json()["id"]
    response = _post(stack, f"{BETA}/directories/{directory}/files/upload",
                     files={"upload_file": (name, b"plain text")})
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == shown
    assert "/" not in shown and "\\" not in shown
    stored = list((stack.settings.data_path).rglob("passwd")) + list(
        (stack.settings.data_path).rglob("system.ini"))
    assert stored == []  # nothing written outside (or inside) under the client's name


@pytest.mark.parametrize("name,body,kind", [
    ("report.txt", (CORPUS / "minimal-document.pdf").read_bytes(), "pdf"),  # name lies
    ("invoice.pdf", b"just some text, no PDF header", "txt"),
    ("photo.png", b"\x00\x01\x02binary junk", "bin"),
    ("sheet.csv", (CORPUS / "word_sample.docx").read_bytes(), "docx"),
])
def test_upload_type_comes_from_content(stack: Stack, name: str, body: bytes,
                                        kind: str) -> None:
    response = _post(stack, f"{BETA}/files", files={"file": (name, body)},
                     data={"purpose": "parse"})
    assert response.status_code == 200, response.text
    assert response.json()["file_type"] == kind


def test_request_line_too_long_gets_the_standard_body(stack: Stack) -> None:
    # gunicorn refuses it before the app runs; it still answers in the API's error shape.
    response = requests.get(f"{stack.url}{CREATE}", params={"status": "x" * 6000},
                            headers=stack.headers(), timeout=30)
    assert response.status_code == 414
    assert response.headers["Content-Type"] == "application/json"
    assert "too large" in response.json()["detail"]
