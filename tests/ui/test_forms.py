"""Hostile input to every dashboard route, without a browser: a 4xx naming the field (an
HTML page, or JSON for the upload script), never a 500. The app in-process, signed in."""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchsvc.settings import Settings
from tests.conftest import new_key

FIELD_ERROR = re.compile(r'<ul class="alert" role="alert">\s*<li>(.*?)</li>', re.S)


@dataclass
class Signed:
    client: Any
    csrf: str
    ids: dict[str, str]

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kw)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


@pytest.fixture()
def ui(db: Settings) -> Signed:
    from batchsvc.app import create_app

    client = create_app().test_client()
    # A project of its own: the Postgres database is shared by the session's tests.
    key = new_key(f"forms-{uuid.uuid4().hex[:8]}")
    token = _csrf(client.get("/ui/login").get_data(as_text=True))
    assert client.post("/ui/login", data={"api_key": key, "csrf_token": token}
                       ).status_code == 303
    signed = Signed(client, _csrf(client.get("/ui/batches").get_data(as_text=True)),
                    {"key": key})
    made = signed.post("/ui/directories", {"name": "forms"})
    signed.ids["directory_id"] = made.headers["Location"].rsplit("/", 1)[1]
    up = signed.post(f"/ui/directories/{signed.ids['directory_id']}/files", {
        "upload_file": (io.BytesIO(b"hello forms"), "hello.txt")},
        headers={"Accept": "application/json"})
    signed.ids["item_id"] = up.get_json()["items"][0]["id"]
    assert signed.post(f"/ui/directories/{signed.ids['directory_id']}/batches",
                       {"kind": "parse"}).status_code == 303
    # Over item ids (through the API), so its item exists without a worker.
    job = client.post("/api/v1/beta/batch-processing", json={
        "item_ids": [signed.ids["item_id"]], "job_config": {"parameters": {}}},
        headers={"Authorization": f"Bearer {key}"})
    signed.ids["job_id"] = job.get_json()["id"]
    return signed


def field_errors(response: Any) -> list[str]:
    return [m.strip() for m in FIELD_ERROR.findall(response.get_data(as_text=True))]


def test_bad_values_name_their_field(ui: Signed) -> None:
    d, j = ui.ids["directory_id"], ui.ids["job_id"]
    start = f"/ui/directories/{d}/batches"
    cases: list[tuple[Any, int, str]] = [
        (ui.get("/ui/batches?status=bogus"), 422, "query.status"),
        (ui.get("/ui/batches?offset=-1"), 422, "query.offset"),
        (ui.get("/ui/batches?limit=100000"), 422, "query.limit"),
        (ui.get(f"/ui/batches/{j}?status=nope"), 422, "query.status"),
        (ui.get(f"/ui/batches/{j}/events?interval=0"), 422, "query.interval"),
        (ui.get(f"/ui/batches/{j}/results?format=pdf"), 422, "query.format"),
        (ui.get("/ui/directories?page_token=garbage"), 422, "query.page_token"),
        (ui.post("/ui/directories", {"name": ""}), 422, "body.name"),
        (ui.post("/ui/directories", {"name": "a\x00b"}), 422, "body.name"),
        (ui.post(start, {"kind": "extract"}), 422, "body.kind"),
        (ui.post(start, {"kind": "parse", "max_pages": "three"}), 422,
         "body.job_config.parameters.max_pages"),
        (ui.post(start, {"kind": "parse", "languages": "en,klingon"}), 422,
         "body.job_config.parameters.languages"),
        (ui.post(start, {"kind": "classify", "rules": "a: b", "mode": "PSYCHIC"}), 422,
         "body.job_config.mode"),
        (ui.post(start, {"kind": "classify", "rules": "\n\n"}), 422, "body.rules"),
        (ui.post(f"/ui/directories/{d}/files"), 422, "body.upload_file"),
        (ui.post(f"/ui/batches/{j}/cancel", {"reason": "x" * 2001}), 422, "body.reason"),
        (ui.post(f"/ui/batches/{j}/retry"), 409, "only a finished job can be retried"),
        (ui.get(f"/ui/batches/{j}/items/no-such-item"), 404, "no-such-item"),
        (ui.get(f"/ui/batches/{j}/items/{ui.ids['item_id']}/pages/1.png"), 404,
         "no image of page 1"),  # a text file has no pages to draw
        (ui.get("/ui/batches/bjb-00000000-0000-0000-0000-000000000000"), 404, "not found"),
        (ui.get("/ui/directories/nope"), 404, "directory nope not found"),
    ]
    for response, status, named in cases:
        assert response.status_code == status, (named, response.get_data(as_text=True)[:300])
        errors = field_errors(response)
        assert any(named in e for e in errors), (named, errors)


def test_pages_forbid_framing_and_foreign_content(ui: Signed) -> None:
    for path in ("/ui/login", "/ui/batches", f"/ui/batches/{ui.ids['job_id']}", "/ui/nope"):
        headers = ui.get(path).headers
        if path == "/ui/nope":  # not a dashboard route: the API's JSON 404
            assert "Content-Security-Policy" not in headers
            continue
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"


def test_the_upload_script_gets_json(ui: Signed) -> None:
    response = ui.post(f"/ui/directories/{ui.ids['directory_id']}/files",
                       headers={"Accept": "application/json"})
    assert response.status_code == 422
    assert response.get_json()["detail"][0]["loc"] == ["body", "upload_file"]
    signed_out = ui.client.post("/ui/logout", data={"csrf_token": ui.csrf})
    assert signed_out.status_code == 303
    refused = ui.client.post(f"/ui/directories/{ui.ids['directory_id']}/files",
                             headers={"Accept": "application/json",
                                      "X-CSRF-Token": ui.csrf})
    assert refused.status_code == 400 and "csrf_token" in refused.get_json()["detail"]


def test_a_foreign_next_is_not_followed(ui: Signed, db: Settings) -> None:
    client = ui.client
    client.post("/ui/logout", data={"csrf_token": ui.csrf})
    token = _csrf(client.get("/ui/login").get_data(as_text=True))
    for target in ("https://evil.example/", "//evil.example/ui/", "/api/v1/beta/directories"):
        answer = client.post("/ui/login", data={"api_key": new_key(), "csrf_token": token,
                                                "next": target})
        assert answer.headers["Location"] == "/ui/batches", target
        token = _csrf(client.get("/ui/batches").get_data(as_text=True))
        client.post("/ui/logout", data={"csrf_token": token})
        token = _csrf(client.get("/ui/login").get_data(as_text=True))


TEXT = st.one_of(st.text(max_size=40), st.sampled_from(
    ["", "-1", "0", "1e400", "NaN", "9" * 30, "on", "\x00", "../..", "%00",
     "parse", "classify", "completed", "a: b\nc", "zip", "jsonl"]))
FIELDS = ["status", "job_type", "offset", "limit", "format", "interval", "page_token",
          "page_size", "name", "description", "kind", "max_pages", "target_pages",
          "languages", "rules", "mode", "reason", "include_cancelled", "api_key", "next",
          "disable_ocr", "invalidate_cache"]


def _routes(ui: Signed) -> list[tuple[str, str]]:
    out = []
    for rule in ui.client.application.url_map.iter_rules():
        if not rule.endpoint.startswith("ui.") or rule.endpoint in ("ui.static", "ui.logout"):
            continue
        path = rule.rule
        for arg in rule.arguments:
            real = ui.ids.get(arg, "1" if arg == "page_number" else "x")
            path = re.sub(rf"<(?:\w+:)?{arg}>", real, path)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((method, path))
    return sorted(out)


def _fuzz(ui: Signed, method: str, path: str) -> None:
    @given(values=st.dictionaries(st.sampled_from(FIELDS), TEXT, max_size=5))
    @settings(max_examples=15, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(values: dict[str, str]) -> None:
        if method == "GET":
            response = ui.client.get(path, query_string=values)
        else:
            response = ui.post(path, values)
        # An events stream that was accepted would run on: its status is the answer.
        if response.mimetype == "text/event-stream":
            assert response.status_code == 200
            response.close()
            return
        assert response.status_code < 500, (method, path, values,
                                            response.get_data(as_text=True)[:300])
        if response.status_code >= 400:
            shown = response.is_json or 'role="alert"' in response.get_data(as_text=True)
            assert shown, (method, path, values)

    fuzz()


def test_every_route_answers_garbage_below_500(ui: Signed) -> None:
    routes = _routes(ui)
    assert len(routes) >= 15
    for method, path in routes:
        _fuzz(ui, method, path)


def test_batches_and_items_are_paged(ui: Signed) -> None:
    directory = ui.ids["directory_id"]
    many = ui.post(f"/ui/directories/{directory}/files", {"upload_file": [
        (io.BytesIO(f"file {n}".encode()), f"f{n:02}.txt") for n in range(29)]},
        headers={"Accept": "application/json"})
    ids = [ui.ids["item_id"]] + [row["id"] for row in many.get_json()["items"]]
    assert len(ids) == 30
    key_header = {"Authorization": f"Bearer {ui.ids['key']}"}
    job = ui.client.post("/api/v1/beta/batch-processing", headers=key_header, json={
        "item_ids": ids, "job_config": {"parameters": {}}}).get_json()["id"]
    for _ in range(25):
        ui.client.post("/api/v1/beta/batch-processing", headers=key_header, json={
            "item_ids": ids[:1], "job_config": {"parameters": {}}})

    def rows(path: str) -> list[str]:
        page = ui.get(path).get_data(as_text=True)
        return re.findall(r'<tr data-(?:job|item)-id="([^"]+)"', page)

    first, second = rows("/ui/batches"), rows("/ui/batches?offset=25")
    assert len(first) == 25 and len(second) == 3 and not set(first) & set(second)
    assert 'href="/ui/batches?offset=25"' in ui.get("/ui/batches").get_data(as_text=True)
    items = rows(f"/ui/batches/{job}") + rows(f"/ui/batches/{job}?offset=25")
    assert items == ids
    assert rows(f"/ui/batches/{job}?status=pending&offset=20") == ids[20:30]
    assert rows(f"/ui/batches/{job}?status=completed") == []
    assert 'href="/ui/batches/' + job + '?status=pending&amp;offset=25#items"' in \
        ui.get(f"/ui/batches/{job}?status=pending").get_data(as_text=True)
