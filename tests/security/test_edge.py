"""Bad input at the HTTP edge, on SQLite and on Postgres: whatever the shape of a body, query,
path or header, the answer is a 4xx with ``{"detail": ...}`` naming where, never a 500. Each
case here was a 500 (or a silent acceptance one backend refused) before the edge checks."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest

from batchsvc.api.edge import MAX_JSON_DEPTH
from tests.security.conftest import RULES, Edge

BETA = "/api/v1/beta"
CREATE = f"{BETA}/batch-processing"
JSON = {"Content-Type": "application/json"}


def refused(response: Any, status: int = 422, loc: list[Any] | None = None) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    detail = response.get_json()["detail"]
    assert detail
    if loc is not None:
        assert [entry["loc"] for entry in detail] == [loc], detail
    return detail


def nested(depth: int, leaf: bytes = b"1", kind: str = "array") -> bytes:
    """``depth`` levels of arrays or objects around ``leaf``, as bytes (no recursion)."""
    if kind == "array":
        return b"[" * depth + leaf + b"]" * depth
    return b'{"a":' * depth + leaf + b"}" * depth


@pytest.mark.parametrize("kind", ["array", "object"])
def test_body_nested_200000_deep_is_422(edge: Edge, kind: str) -> None:
    response = edge.call("POST", CREATE, data=nested(200_000, kind=kind), headers=JSON)
    detail = refused(response, loc=["body"])
    assert f"deeper than {MAX_JSON_DEPTH} levels" in detail[0]["msg"]


def _body(edge: Edge, **parameters: Any) -> dict[str, Any]:
    return {"job_config": {"parameters": parameters}, "item_ids": [edge.ids["item_id"]]}


@pytest.mark.parametrize("field", ["custom_metadata", "webhook_headers", "resource_info"])
def test_deep_value_inside_a_field_is_422(edge: Edge, field: str) -> None:
    value = {"k": nested_value(200)}
    params = ({"webhook_configurations": [{"webhook_headers": value}]}
              if field == "webhook_headers" else {field: value})
    refused(edge.call("POST", CREATE, json=_body(edge, **params)), loc=["body"])


def test_deep_metadata_of_directories_and_files_is_422(edge: Edge) -> None:
    directory = edge.ids["directory_id"]
    deep = {"k": nested_value(MAX_JSON_DEPTH)}
    refused(edge.call("POST", f"{BETA}/directories", json={"name": "d", "system_metadata": deep}),
            loc=["body"])
    refused(edge.call("POST", f"{BETA}/directories/{directory}/files",
                      json={"file_id": edge.ids["file_id"], "metadata": deep}), loc=["body"])
    refused(edge.call("PATCH", f"{BETA}/directories/{directory}/files/"
                      f"{edge.ids['directory_file_id']}", json={"metadata": deep}), loc=["body"])


def test_deepest_allowed_metadata_is_stored_and_read_back(edge: Edge) -> None:
    # body (1) > metadata (2) > "k" (3) > ...: exactly the limit, through the JSON column,
    # marshmallow and jsonify and back.
    metadata = {"k": nested_value(MAX_JSON_DEPTH - 2)}
    path = f"{BETA}/directories/{edge.ids['directory_id']}/files"
    added = edge.call("POST", path, json={"file_id": edge.ids["file_id"], "metadata": metadata})
    assert added.status_code == 200, added.get_data(as_text=True)
    again = edge.call("GET", f"{path}/{added.get_json()['id']}")
    assert again.status_code == 200
    assert again.get_json()["metadata"] == metadata
    too_deep = {"k": nested_value(MAX_JSON_DEPTH - 1)}
    refused(edge.call("PATCH", f"{path}/{added.get_json()['id']}", json={"metadata": too_deep}),
            loc=["body"])


def nested_value(depth: int) -> Any:
    """``depth`` levels of alternating objects and arrays."""
    value: Any = 1
    for level in range(depth):
        value = {"x": value} if level % 2 else [value]
    return value


@pytest.mark.parametrize("number", [
    b"1e400", b"-1e400", b"1" + b"0" * 400 + b".5", b"NaN", b"Infinity", b"-Infinity",
    b"9" * 5000, b"-" + b"9" * 100_000,
])
def test_numbers_json_or_python_cannot_hold_are_422(edge: Edge, number: bytes) -> None:
    for body in (b'{"page_size": %s}' % number,
                 b'{"name": "n", "system_metadata": {"n": [%s]}}' % number):
        response = edge.call("POST", CREATE if b"page_size" in body else f"{BETA}/directories",
                             data=body, headers=JSON)
        detail = refused(response, loc=["body"])
        assert "number" in detail[0]["msg"]


def test_duplicate_keys_are_422_naming_the_key(edge: Edge) -> None:
    body = b'{"name": "first", "description": "d", "name": "second"}'
    detail = refused(edge.call("POST", f"{BETA}/directories", data=body, headers=JSON),
                     loc=["body"])
    assert "'name' appears more than once" in detail[0]["msg"]
    nested_twice = b'{"name": "n", "system_metadata": {"a": {"k": 1, "k": 2}}}'
    refused(edge.call("POST", f"{BETA}/directories", data=nested_twice, headers=JSON))


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-32", "utf-32-be"])
def test_bodies_in_every_json_encoding_are_read(edge: Edge, encoding: str) -> None:
    body = '{"name": "caf\u00e9 \U0001f680"}'.encode(encoding)
    response = edge.call("POST", f"{BETA}/directories", data=body, headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["name"] == "caf\u00e9 \U0001f680"


@pytest.mark.parametrize("body", [
    b'{"name": "\xff"}',             # invalid UTF-8
    b'{"name": "\xed\xa0\x80"}',     # a surrogate encoded as UTF-8
    b'{"name": "\xc0\xaf"}',         # overlong
    '{"name": "a\ud800"}'.encode("utf-16-le", "surrogatepass"),
])
def test_bytes_that_are_not_text_are_422(edge: Edge, body: bytes) -> None:
    detail = refused(edge.call("POST", f"{BETA}/directories", data=body, headers=JSON),
                     loc=["body"])
    assert "not valid UTF" in detail[0]["msg"]


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800", "\\udfff", "x\\ude00y"])
def test_nul_and_lone_surrogates_are_422_naming_the_field(edge: Edge, escape: str) -> None:
    cases = [
        (f"{BETA}/directories", f'{{"name": "a{escape}"}}', ["body", "name"]),
        (CREATE, f'{{"job_config": {{"parameters": {{"custom_metadata": {{"k": ["{escape}"]}}}}}},'
                 f' "item_ids": ["{edge.ids["item_id"]}"]}}',
         ["body", "job_config", "parameters", "custom_metadata", "k", 0]),
        (f"{BETA}/directories", f'{{"name": "n", "system_metadata": {{"k{escape}": 1}}}}',
         ["body", "system_metadata", "k\ufffd" if escape != "x\\ude00y" else "kx\ufffdy"]),
    ]
    for path, body, loc in cases:
        detail = refused(edge.call("POST", path, data=body.encode(), headers=JSON), loc=loc)
        assert "must not contain" in detail[0]["msg"]


def test_a_paired_surrogate_escape_is_an_ordinary_character(edge: Edge) -> None:
    response = edge.call("POST", f"{BETA}/directories", data=b'{"name": "\\ud83d\\ude80"}',
                         headers=JSON)
    assert response.status_code == 200
    assert response.get_json()["name"] == "\U0001f680"


@pytest.mark.parametrize("path,loc", [
    (f"{BETA}/directories/a%00b", ["path", "directory_id"]),
    (f"{BETA}/files/%00/content", ["path", "file_id"]),
    ("/api/v2/parse/x%00", ["path", "job_id"]),
    ("/api/v1/classifier/jobs/%00", ["path", "job_id"]),
    (f"{BETA}/directories?name=a%00b", ["query", "name"]),
    (f"{CREATE}?directory_id=%00", ["query", "directory_id"]),
    (f"{CREATE}?x%00=1", ["query", "x\ufffd"]),
])
def test_nul_in_path_and_query_is_422_naming_it(edge: Edge, path: str, loc: list[Any]) -> None:
    refused(edge.call("GET", path), loc=loc)


def test_garbage_percent_encoding_in_a_path_is_404(edge: Edge) -> None:
    for garbage in ("%ff%fe", "%ED%A0%80", "%C0%AF", "%", "%zz", "..%2f..%2fetc"):
        response = edge.call("GET", f"{BETA}/directories/{garbage}")
        refused(response, 404)


def test_nul_in_a_header_or_form_field_is_422(edge: Edge) -> None:
    body = _body(edge)
    refused(edge.call("POST", CREATE, json=body, headers={"Idempotency-Key": "a\x00b"}),
            loc=["header", "Idempotency-Key"])
    upload = edge.call("POST", f"{BETA}/files", data={
        "file": (io.BytesIO(b"x"), "x.txt"), "purpose": "parse", "external_file_id": "e\x00"})
    refused(upload, loc=["body", "external_file_id"])


@pytest.mark.parametrize("data,content_type", [
    (b"--xx\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nabc",
     "multipart/form-data; boundary=xx"),                 # never closed
    (b"garbage", "multipart/form-data"),                  # no boundary
    (b"garbage", "multipart/form-data; boundary="),
    (b"--a\r\n\r\n--a--\r\n", "multipart/form-data; boundary=a"),  # a part with no name
    # Found by atheris: a part with a file name but no name was a TypeError (a 500).
    (b'--b\r\nContent-Disposition: form-data; naml="file"? filename="a.txt"\r\n\r\nhi\r\n'
     b"--b--\r\n", "multipart/form-data; boundary=b"),
    (b'{"file": "x"}', "application/json"),
])
def test_malformed_uploads_are_422(edge: Edge, data: bytes, content_type: str) -> None:
    for path, part in ((f"{BETA}/files", "file"),
                       (f"{BETA}/directories/{edge.ids['directory_id']}/files/upload",
                        "upload_file")):
        refused(edge.call("POST", path, data=data, headers={"Content-Type": content_type}),
                loc=["body", part])


def _token(position: int | str) -> str:
    """A page token as the server makes them, for any position."""
    return base64.urlsafe_b64encode(f"p:{position}".encode()).decode().rstrip("=")


@pytest.mark.parametrize("query,loc", [
    (f"offset={10**30}", ["query", "offset"]),
    (f"offset={2**63}", ["query", "offset"]),
    (f"limit={10**30}", ["query", "limit"]),
    ("limit=" + "9" * 5000, ["query", "limit"]),
    ("limit=1e400", ["query", "limit"]),
    ("limit=nan", ["query", "limit"]),
    ("limit=1&limit=x", ["query", "limit"]),  # the last of repeated keys counts
])
def test_huge_and_odd_numbers_in_offset_queries_are_422(edge: Edge, query: str,
                                                        loc: list[Any]) -> None:
    for path in (CREATE, f"{CREATE}/{edge.ids['job_id']}/items",
                 f"{CREATE}/{edge.ids['job_id']}/webhook-deliveries"):
        refused(edge.call("GET", f"{path}?{query}"), loc=loc)


@pytest.mark.parametrize("path", [f"{BETA}/directories", f"{BETA}/files",
                                  "/api/v1/classifier/jobs", "{directory}/files"])
def test_page_tokens_past_64_bits_and_huge_page_sizes_are_422(edge: Edge, path: str) -> None:
    path = path.format(directory=f"{BETA}/directories/{edge.ids['directory_id']}")
    for token in (_token(2**63), _token(10**30), _token(-1), _token("9" * 5000)):
        refused(edge.call("GET", f"{path}?page_token={token}"), loc=["query", "page_token"])
    refused(edge.call("GET", f"{path}?page_size={10**30}"), loc=["query", "page_size"])
    assert edge.call("GET", f"{path}?page_token={_token(2**63 - 1)}").status_code == 200


@pytest.mark.parametrize("threshold", [2**31, 10**10, 10**30])
def test_continue_as_new_threshold_past_int_is_422(edge: Edge, threshold: int) -> None:
    body = {**_body(edge), "continue_as_new_threshold": threshold}
    refused(edge.call("POST", CREATE, json=body), loc=["body", "continue_as_new_threshold"])
    body["page_size"] = 10**30
    detail = refused(edge.call("POST", CREATE, json=body))
    assert ["body", "page_size"] in [entry["loc"] for entry in detail]


@pytest.mark.parametrize("expires", ["9" * 5000, "1" * 21, "\u00b2", "\u0669" * 12, "1e400",
                                     "nan", "-1"])
def test_download_links_with_odd_expiry_are_403(edge: Edge, expires: str) -> None:
    response = edge.call("GET", f"{BETA}/files/{edge.ids['file_id']}/download",
                         query_string={"expires": expires, "signature": "x"})
    refused(response, 403)


def test_a_classifier_jobs_provider_key_is_never_returned(edge: Edge) -> None:
    # Found by the fuzzer: parsing_configuration came back as sent, key and all.
    secret = "sk-classifier-secret"
    created = edge.call("POST", "/api/v1/classifier/jobs", json={
        "file_ids": [edge.ids["file_id"]], "rules": RULES,
        "parsing_configuration": {"max_pages": 1, "api_key": secret}})
    assert created.status_code == 200, created.get_data(as_text=True)
    assert created.get_json()["parsing_configuration"] == {"max_pages": 1,
                                                           "api_key": "[redacted]"}
    job_id = created.get_json()["id"]
    for path in (f"/api/v1/classifier/jobs/{job_id}", "/api/v1/classifier/jobs?page_size=1000"):
        response = edge.call("GET", path)
        assert response.status_code == 200
        assert secret not in response.get_data(as_text=True)


def test_deepest_allowed_config_runs_and_every_view_of_it_reads_back(edge: Edge) -> None:
    # Stored, run by the real item task, and shown again by each route that returns the
    # config or the results: nothing on the way recurses past what the edge lets in.
    from tests.unit.test_product_extras import finish

    # body (1) > job_config > parameters > custom_metadata (4) > 60 more: exactly the limit
    metadata = {"k": nested_value(MAX_JSON_DEPTH - 4)}
    created = edge.call("POST", CREATE, json=_body(edge, custom_metadata=metadata))
    assert created.status_code == 200, created.get_data(as_text=True)
    job_id = finish(created.get_json()["id"])
    items = edge.call("GET", f"{CREATE}/{job_id}/items").get_json()["items"]
    assert [item["status"] for item in items] == ["completed"]
    lineage = edge.call("GET", f"{CREATE}/items/{items[0]['item_id']}/processing-results")
    assert lineage.status_code == 200
    configs = [r["job_config"] for r in lineage.get_json()["processing_results"]]
    assert {"custom_metadata": metadata} in [c.get("parameters") for c in configs]
    for path in (f"{CREATE}/{job_id}", f"{CREATE}/{job_id}/results",
                 f"{CREATE}/{job_id}/results?format=zip", f"/api/v2/parse/{items[0]['job_id']}"
                 "?expand=text,markdown,items,metadata"):
        assert edge.call("GET", path).status_code == 200, path
