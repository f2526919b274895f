"""What the edge fuzzers (hypothesis in test_fuzz_edge.py, atheris in tests/fuzz) share: the
routes of the app's url_map, a valid body per route to mutate (secrets planted where the
API must never return them), and the property every answer must have."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tests.security.conftest import RULES, Edge

# Planted only in secret fields (signing secrets, webhook headers, provider keys): no answer
# may contain it, whatever else the request got wrong.
CANARY = "canary-7f3a9c1e-secret"
UPLOADS = {"directories.upload": "upload_file", "files.create": "file"}
# Never called with a real id: a real job's event stream does not end by itself, and a real
# delete would leave the other routes nothing to find.
HOSTILE_IDS_ONLY = {"events.events"}


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    rule: str
    params: tuple[str, ...]

    def path(self, values: dict[str, str]) -> str:
        return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], self.rule)

    @property
    def openapi_path(self) -> str:
        return self.path({p: f"{{{p}}}" for p in self.params})

    @property
    def real_ids_allowed(self) -> bool:
        return self.method != "DELETE" and self.endpoint not in HOSTILE_IDS_ONLY


def routes(edge: Edge) -> list[Route]:
    out = []
    for rule in edge.client.application.url_map.iter_rules():
        # The dashboard answers in HTML behind a session cookie: tests/ui/test_forms.py.
        if rule.endpoint in ("static", "root") or rule.endpoint.startswith("ui."):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append(Route(rule.endpoint, method, rule.rule, tuple(rule.arguments)))
    return sorted(out, key=lambda r: (r.rule, r.method))


def real_id(edge: Edge, route: Route, param: str) -> str | None:
    """The id of an existing row for this parameter of this route, if the fixture has one."""
    if route.endpoint.startswith("classifier.") and param == "job_id":
        return edge.ids["classifier_job_id"]
    if route.endpoint.startswith("results.") and param == "job_id":
        return None
    return edge.ids.get(param)


WEBHOOK = {"webhook_url": "http://127.0.0.1:9/hook", "webhook_events": ["parse.success"],
           "webhook_headers": {"X-Token": CANARY}, "webhook_signing_secret": CANARY,
           "webhook_output_format": "json"}
PROVIDER_KEYS = {"azure_openai_key": CANARY, "gpt4o_api_key": CANARY,
                 "vendor_multimodal_api_key": CANARY, "http_proxy": f"http://u:{CANARY}@p:1"}


def template(edge: Edge, endpoint: str) -> Any:
    """A body the route accepts, to mutate; None where the route reads no JSON body."""
    ids = edge.ids
    return {
        "batches.create": {"job_config": {"parameters": {
            "max_pages": 2, "custom_metadata": {"k": ["v", 1]}, "target_pages": "0-1",
            "webhook_configurations": [WEBHOOK], **PROVIDER_KEYS}},
            "item_ids": [ids["item_id"]], "page_size": 10, "continue_as_new_threshold": 10},
        "batches.cancel": {"reason": "fuzz"},
        "batches.retry": {"include_cancelled": True},
        "directories.create": {"name": "fuzz", "description": "d",
                               "system_metadata": {"k": [1, "v"]}},
        "directories.update": {"name": "fuzz", "description": "d"},
        "directories.add_file": {"file_id": ids["file_id"], "display_name": "f",
                                 "metadata": {"k": {"n": 1}}},
        "directories.update_file": {"display_name": "f", "metadata": {"k": 1}},
        "classifier.create_classifier_job": {
            "file_ids": [ids["file_id"]], "rules": RULES, "mode": "FAST",
            "parsing_configuration": {"max_pages": 1, "api_key": CANARY},
            "webhook_configurations": [WEBHOOK]},
    }.get(endpoint)


def check(response: Any, secrets: tuple[str, ...]) -> None:
    """Below 500; every 4xx a JSON object with a detail; JSON answers strict JSON (no NaN);
    no secret anywhere in the answer."""
    status = response.status_code
    body = response.get_data()
    assert status < 500, body[:300]
    shown = body + str(response.headers).encode()
    for secret in secrets:
        assert secret.encode() not in shown, f"{status} answer echoes a secret: {body[:300]!r}"
    if response.mimetype == "application/json":
        decoded = json.loads(body, parse_constant=_not_json)
        if status >= 400:
            assert isinstance(decoded, dict) and decoded.get("detail"), body[:300]
    else:
        assert status < 400, f"{status} answered as {response.mimetype}: {body[:300]!r}"


def _not_json(name: str) -> Any:
    raise AssertionError(f"the answer holds {name}, which is not JSON")
