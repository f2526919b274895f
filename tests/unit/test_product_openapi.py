"""/openapi.json is a valid OpenAPI 3 document of every route, built from the schemas the
routes use; /docs renders it without any network access."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from batchsvc.api import docs
from batchsvc.app import create_app
from schemas.batch import BatchCreateSchema, BatchListQuery

pytestmark = pytest.mark.usefixtures("sqlite_settings")


@pytest.fixture()
def client() -> Any:
    return create_app().test_client()


@pytest.fixture()
def spec(client: Any) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_document_is_valid_openapi_3(spec: dict[str, Any]) -> None:
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_route_and_method_is_documented(client: Any, spec: dict[str, Any]) -> None:
    for rule in client.application.url_map.iter_rules():
        # The dashboard (and the / redirect to it) is HTML for people, not the API.
        if rule.endpoint in ("static", "root") or rule.endpoint.startswith("ui."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"].get(path, {}), f"{method} {path}"
        assert rule.endpoint in docs.OPERATIONS, f"{rule.endpoint} has no OPERATIONS entry"


def test_bodies_and_queries_come_from_the_validating_schemas(spec: dict[str, Any]) -> None:
    create = spec["paths"]["/api/v1/beta/batch-processing"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    component = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(component["properties"]) == set(BatchCreateSchema().fields)
    assert component["required"] == ["job_config"]
    listing = spec["paths"]["/api/v1/beta/batch-processing"]["get"]["parameters"]
    names = {p["name"] for p in listing if p["in"] == "query"}
    assert names == set(BatchListQuery().fields)
    status = next(p for p in listing if p["name"] == "status")
    assert "running" in status["schema"]["enum"]
    upload = spec["paths"]["/api/v1/beta/directories/{directory_id}/files/upload"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["upload_file"]["format"] == "binary"


def test_errors_share_one_body_and_keys_are_declared(spec: dict[str, Any]) -> None:
    assert spec["components"]["schemas"]["Error"]["required"] == ["detail"]
    get = spec["paths"]["/api/v1/beta/batch-processing/{job_id}"]["get"]
    assert get["security"] == [{"bearerAuth": []}]
    assert {"401", "404", "422"} <= set(get["responses"])
    error = spec["components"]["responses"]["Error404"]
    assert error["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    retry = spec["paths"]["/api/v1/beta/batch-processing/{job_id}/retry"]["post"]
    assert {"409", "422"} <= set(retry["responses"])
    results = spec["paths"]["/api/v1/beta/batch-processing/{job_id}/results"]["get"]
    assert set(results["responses"]["200"]["content"]) == {docs.NDJSON, docs.ZIP}


def test_fuzzers_can_load_it(spec: dict[str, Any]) -> None:
    import schemathesis

    schema = schemathesis.openapi.from_dict(spec)
    operations = [op for op in schema.get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in spec["paths"].values())


def test_docs_page_works_offline(client: Any) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'fetch("/openapi.json")' in html
    # No CDN: nothing is loaded from another host.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script src" not in html and "<link" not in html
