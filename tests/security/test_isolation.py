"""Every row belongs to one project: another project's key gets 404 for each of them (as if
it did not exist), sees none of them in lists, and cannot change or delete any."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from tests.conftest import Stack

pytestmark = pytest.mark.integration
BETA = "/api/v1/beta"
RULES = [{"type": "invoice", "description": "a bill asking for payment"},
         {"type": "letter", "description": "a personal letter"}]


def _call(stack: Stack, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
    return requests.request(method, stack.url + path, headers=stack.headers(key), timeout=30,
                            **kw)


def _ok(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def owned(stack: Stack) -> dict[str, str]:
    """One of everything, owned by the stack's project, with its batch finished."""
    text = b"Invoice 42: please pay 300 EUR by Friday."
    directory = _ok(_call(stack, "POST", f"{BETA}/directories",
                          json={"name": f"mine-{uuid.uuid4().hex[:6]}"}))["id"]
    dir_file = _ok(_call(stack, "POST", f"{BETA}/directories/{directory}/files/upload",
                         files={"upload_file": ("invoice.txt", text)}))["id"]
    file_id = _ok(_call(stack, "POST", f"{BETA}/files", files={"file": ("loose.txt", text)},
                        data={"purpose": "parse"}))["id"]
    job = _ok(_call(stack, "POST", f"{BETA}/batch-processing", json={
        "job_config": {"parameters": {}}, "item_ids": [dir_file]}))["id"]
    classifier = _ok(_call(stack, "POST", "/api/v1/classifier/jobs",
                           json={"file_ids": [file_id], "rules": RULES}))["id"]
    one_file = _ok(_call(stack, "POST", "/api/v2/classify", json={
        "file_input": file_id, "configuration": {"rules": RULES}}))["id"]
    deadline = time.time() + 120
    while _ok(_call(stack, "GET", f"{BETA}/batch-processing/{job}"))["job"]["completed_at"] \
            is None:
        assert time.time() < deadline, "batch did not finish"
        time.sleep(0.3)
    items = _ok(_call(stack, "GET", f"{BETA}/batch-processing/{job}/items"))["items"]
    assert items[0]["status"] == "completed"
    return {"directory": directory, "dir_file": dir_file, "file": file_id, "job": job,
            "parse_job": items[0]["job_id"], "classifier": classifier, "classify": one_file}


def test_another_projects_rows_are_404(stack: Stack, owned: dict[str, str],
                                       other_key: str) -> None:
    d, df, f, j = owned["directory"], owned["dir_file"], owned["file"], owned["job"]
    probes = [
        ("GET", f"{BETA}/batch-processing/{j}", None),
        ("GET", f"{BETA}/batch-processing/{j}/items", None),
        ("GET", f"{BETA}/batch-processing/{j}/results", None),
        ("GET", f"{BETA}/batch-processing/{j}/events", None),
        ("GET", f"{BETA}/batch-processing/{j}/webhook-deliveries", None),
        ("POST", f"{BETA}/batch-processing/{j}/cancel", {}),
        ("POST", f"{BETA}/batch-processing/{j}/retry", {}),
        ("GET", f"{BETA}/batch-processing/items/{df}/processing-results", None),
        ("GET", f"{BETA}/directories/{d}", None),
        ("PATCH", f"{BETA}/directories/{d}", {"name": "stolen"}),
        ("DELETE", f"{BETA}/directories/{d}", None),
        ("GET", f"{BETA}/directories/{d}/files", None),
        ("POST", f"{BETA}/directories/{d}/files", {"file_id": f}),
        ("GET", f"{BETA}/directories/{d}/files/{df}", None),
        ("PATCH", f"{BETA}/directories/{d}/files/{df}", {"display_name": "stolen"}),
        ("DELETE", f"{BETA}/directories/{d}/files/{df}", None),
        ("GET", f"{BETA}/files/{f}", None),
        ("GET", f"{BETA}/files/{f}/content", None),
        ("DELETE", f"{BETA}/files/{f}", None),
        ("GET", f"/api/v2/parse/{owned['parse_job']}", None),
        ("GET", f"/api/v1/classifier/jobs/{owned['classifier']}", None),
        ("GET", f"/api/v1/classifier/jobs/{owned['classifier']}/results", None),
        ("GET", f"/api/v2/classify/{owned['classify']}", None),
    ]
    for method, path, body in probes:
        response = _call(stack, method, path, other_key, json=body)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
        assert isinstance(response.json()["detail"], str), (method, path)
    upload = _call(stack, "POST", f"{BETA}/directories/{d}/files/upload", other_key,
                   files={"upload_file": ("x.txt", b"x")})
    assert upload.status_code == 404
    # Nothing was changed by the attempts above: the owner still sees every row as it was.
    assert _ok(_call(stack, "GET", f"{BETA}/directories/{d}"))["name"].startswith("mine-")
    assert _ok(_call(stack, "GET", f"{BETA}/directories/{d}/files/{df}"))["display_name"] \
        == "invoice.txt"
    assert _ok(_call(stack, "GET", f"{BETA}/files/{f}"))["id"] == f


def test_another_projects_rows_are_not_listed_or_usable(stack: Stack, owned: dict[str, str],
                                                        other_key: str) -> None:
    listings = {
        f"{BETA}/batch-processing": owned["job"], f"{BETA}/directories": owned["directory"],
        f"{BETA}/files": owned["file"], "/api/v1/classifier/jobs": owned["classifier"],
        "/api/v2/classify": owned["classify"],
    }
    for path, foreign in listings.items():
        response = _call(stack, "GET", path, other_key)
        assert response.status_code == 200, path
        assert foreign not in response.text, path
    by_items = _call(stack, "POST", f"{BETA}/batch-processing", other_key, json={
        "job_config": {"parameters": {}}, "item_ids": [owned["dir_file"]]})
    assert by_items.status_code == 422
    assert by_items.json()["detail"][0]["loc"] == ["body", "item_ids", 0]
    by_directory = _call(stack, "POST", f"{BETA}/batch-processing", other_key, json={
        "job_config": {"parameters": {}}, "directory_id": owned["directory"]})
    assert by_directory.status_code == 404
    classify = _call(stack, "POST", "/api/v1/classifier/jobs", other_key,
                     json={"file_ids": [owned["file"]], "rules": RULES})
    assert classify.status_code in (404, 422), classify.text
    queried = _call(stack, "POST", f"{BETA}/files/query", other_key,
                    json={"filter": {"file_ids": [owned["file"]]}})
    assert queried.status_code == 200 and queried.json()["items"] == []
    for source in ("file", "dir_file", "parse_job"):
        one_file = _call(stack, "POST", "/api/v2/classify", other_key, json={
            "file_input": owned[source], "configuration": {"rules": RULES}})
        assert one_file.status_code == 422, (source, one_file.text)
        assert one_file.json()["detail"][0]["loc"] == ["body", "file_input"]
