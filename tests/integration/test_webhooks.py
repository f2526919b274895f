"""Webhooks end to end: a real receiver on loopback, the API under gunicorn and a real worker
on Postgres + Redis. Events, order, filters, formats, headers, signatures, retries, 410,
redelivery, a dead receiver, and no secret anywhere it could leak."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conformance.sdk_flow import wait_job
from tests.conftest import Stack, base_settings, running_stack, with_overrides
from tests.harness import REDIS_URL, ROOT, port_open, postgres_database, wait_for
from tests.webhook_receiver import Received, Receiver

pytestmark = pytest.mark.integration
BASE = 2.5  # retry base seconds in this module: delays 2.5 s, 5 s, ... (±10 %)
SECRETS = {name: f"{name}-{uuid.uuid4().hex}" for name in ("sign1", "sign2", "token")}
PARSE = "/api/v1/beta/batch-processing"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A deployment on its own database, so no other module's sweeper sends these deliveries
    (or this one theirs)."""
    if not (port_open(5432) and port_open(6379)):
        pytest.skip("PostgreSQL and Redis are needed")
    with postgres_database() as url:
        settings = with_overrides(
            base_settings(tmp_path_factory.mktemp("webhooks"), database_url=url,
                          broker_url=REDIS_URL),
            webhook_retry_base_seconds=BASE, webhook_timeout_seconds=2.0,
            webhook_max_attempts=5, public_url="http://batch.example")
        with running_stack(settings) as running:
            yield running


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers=stack.headers(), timeout=30) as client:
        yield client


def _readme_verify() -> Any:
    """The receiver-side example from the README, run as written."""
    section = (ROOT / "README.md").read_text().split("## Webhooks", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    scope: dict[str, Any] = {}
    exec(code, scope)  # noqa: S102 - our own README
    return scope["verify"]


def _upload(stack: Stack, files: dict[str, bytes]) -> list[str]:
    client = stack.sdk()
    directory = client.beta.directories.create(name=f"wh-{uuid.uuid4().hex[:6]}")
    return [client.beta.directories.files.upload(directory.id, upload_file=(n, io.BytesIO(b))).id
            for n, b in files.items()]


def _create(http: httpx.Client, job_config: dict[str, Any], item_ids: list[str]) -> str:
    response = http.post(PARSE, json={"job_config": job_config, "item_ids": item_ids})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def _log(http: httpx.Client, job_id: str, **query: str) -> list[dict[str, Any]]:
    response = http.get(f"{PARSE}/{job_id}/webhook-deliveries", params=query)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _settled(http: httpx.Client, job_id: str, count: int) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        log = _log(http, job_id)
        final = all(d["status"] in ("delivered", "gone", "failed") for d in log)
        return log if len(log) == count and final else None
    return wait_for(done, timeout=60, message=f"{count} settled deliveries of {job_id}")


def _events(requests: list[Received]) -> list[str]:
    return [r.payload()["event_type"] for r in requests]


def _text(n: int = 1) -> dict[str, bytes]:
    return {f"note-{uuid.uuid4().hex[:6]}.txt": f"a short note, number {i}".encode()
            for i in range(n)}


def test_every_source_and_config_gets_its_events_in_order(
        stack: Stack, http: httpx.Client, receiver: Receiver) -> None:
    s1, s2, token = SECRETS["sign1"], SECRETS["sign2"], SECRETS["token"]
    config = {"webhook_url": receiver.url("/a/top"), "parameters": {
        "do_not_cache": True, "webhook_url": receiver.url("/a/params"),
        "webhook_configurations": [
            {"webhook_url": receiver.url("/a/json"), "webhook_output_format": "json",
             "webhook_signing_secret": s1, "webhook_headers": {"X-Api-Token": token}},
            {"webhook_url": receiver.url("/a/string"), "webhook_signing_secret": s2,
             "webhook_events": ["parse.success", "parse.partial_success"]},
            {"webhook_url": receiver.url("/a/never"), "webhook_events": ["classify.success"]},
        ]}}
    job_id = _create(http, config, _upload(stack, _text()))
    wait_job(stack.sdk(), job_id)
    log = _settled(http, job_id, 10)
    lifecycle = ["parse.pending", "parse.running", "parse.success"]
    for path in ("/a/top", "/a/params", "/a/json"):
        assert _events(receiver.at(path)) == lifecycle, path
    assert _events(receiver.at("/a/string")) == ["parse.success"]
    assert receiver.at("/a/never") == []

    verify = _readme_verify()
    by_event: dict[str, set[str]] = {}
    for request in (r for r in receiver.requests if r.path.startswith("/a/")):
        payload = request.payload()
        assert request.headers["webhook-id"] == payload["event_id"]
        assert request.headers["lc-event-type"] == payload["event_type"]
        by_event.setdefault(payload["event_type"], set()).add(payload["event_id"])
        data = payload["data"]
        assert data["job_id"] == job_id and data["total_items"] == 1
        assert data["links"]["items"] == f"http://batch.example{PARSE}/{job_id}/items"
        assert data["status"] == {"parse.pending": "pending", "parse.running": "running",
                                  "parse.success": "completed"}[payload["event_type"]]
        if payload["event_type"] == "parse.success":
            assert (data["processed_items"], data["failed_items"], data["skipped_items"]) \
                == (1, 0, 0)
        signed = request.path in ("/a/json", "/a/string")
        assert ("lc-signature" in request.headers) == signed
        assert ("webhook-signature" in request.headers) == signed
        assert ("x-api-token" in request.headers) == (request.path == "/a/json")
    # One event per transition: every configuration saw the same event id for it.
    assert all(len(ids) == 1 for ids in by_event.values()) and len(by_event) == 3

    for request in receiver.at("/a/json"):
        assert isinstance(json_value(request), dict)
        assert request.headers["x-api-token"] == token
        assert verify(s1, request.headers, request.body)
        assert not verify(s2, request.headers, request.body)
    (string,) = receiver.at("/a/string")
    assert isinstance(json_value(string), str)  # the JSON-encoded string format
    assert verify(s2, string.headers, string.body)
    tampered = string.body.replace(b"completed", b"completeD")
    assert tampered != string.body and not verify(s2, string.headers, tampered)

    assert all(d["status"] == "delivered" and d["attempts"] == 1 for d in log)
    assert all([a["status_code"] for a in d["attempt_log"]] == [200] for d in log)
    assert all(d["attempt_log"][0]["latency_ms"] is not None for d in log)
    assert {d["url"] for d in log} == {receiver.url(p) for p in (
        "/a/top", "/a/params", "/a/json", "/a/string")}
    _assert_no_secrets(stack, http, job_id, receiver)


def json_value(request: Received) -> Any:
    return json.loads(request.body)


def test_redeliver_sends_the_same_event_again(
        stack: Stack, http: httpx.Client, receiver: Receiver) -> None:
    job_id = _create(http, {"parameters": {"do_not_cache": True, "webhook_configurations": [
        {"webhook_url": receiver.url("/r/hook"), "webhook_events": ["parse.success"]}]}},
        _upload(stack, _text()))
    wait_job(stack.sdk(), job_id)
    (original,) = _settled(http, job_id, 1)
    response = http.post(f"{PARSE}/{job_id}/webhook-deliveries/{original['id']}/redeliver")
    assert response.status_code == 202, response.text
    again = response.json()
    assert again["id"] != original["id"] and again["event_id"] == original["event_id"]
    log = _settled(http, job_id, 2)
    assert [d["status"] for d in log] == ["delivered", "delivered"]
    first, second = receiver.at("/r/hook")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == original["event_id"]
    assert second.headers["lc-delivery-id"] == again["id"]
    missing = http.post(f"{PARSE}/{job_id}/webhook-deliveries/whd-nope/redeliver")
    assert missing.status_code == 404 and "whd-nope" in missing.json()["detail"]
    other = http.post(f"{PARSE}/bjb-other/webhook-deliveries/{original['id']}/redeliver")
    assert other.status_code == 404
    assert http.get(f"{PARSE}/{job_id}/webhook-deliveries",
                    params={"status": "nonsense"}).status_code == 422
    assert len(_log(http, job_id, status="delivered", limit="1")) == 1


def test_retries_back_off_then_succeed_and_410_stops(
        stack: Stack, http: httpx.Client, receiver: Receiver) -> None:
    receiver.scripts["/b/flaky"] = [500, 500, 200]
    receiver.scripts["/b/gone"] = [410] * 5
    files = _text() | {"broken.pdf": b"%PDF-1.7\n garbage \x00\xff"}
    job_id = _create(http, {"parameters": {"do_not_cache": True, "webhook_configurations": [
        {"webhook_url": receiver.url("/b/flaky"), "webhook_events": ["parse.partial_success"],
         "webhook_output_format": "json"},
        {"webhook_url": receiver.url("/b/gone")}]}}, _upload(stack, files))
    wait_job(stack.sdk(), job_id)
    flaky = wait_for(lambda: _log(http, job_id, event_type="parse.partial_success",
                                  status="delivered"), timeout=60, message="flaky delivered")
    attempts = [r for r in flaky if r["config_index"] == 0][0]
    assert attempts["attempts"] == 3
    assert [(a["status_code"], a["error"]) for a in attempts["attempt_log"]] == [
        (500, "HTTP 500"), (500, "HTTP 500"), (200, None)]
    requests = receiver.at("/b/flaky")
    assert len(requests) == 3 and len({r.headers["webhook-id"] for r in requests}) == 1
    data = requests[0].payload()["data"]
    assert (data["total_items"], data["processed_items"], data["failed_items"]) == (2, 1, 1)
    first_gap, second_gap = (requests[1].at - requests[0].at, requests[2].at - requests[1].at)
    # Never earlier than scheduled (0.5 s of allowed clock slack), and growing.
    assert first_gap >= 0.9 * BASE - 0.5 and second_gap >= 1.8 * BASE - 0.5
    assert second_gap > first_gap
    # The 410 ended the configuration: one request, though retries would have come by now.
    assert _events(receiver.at("/b/gone")) == ["parse.pending"]
    gone = [d for d in _log(http, job_id) if d["config_index"] == 1]
    assert {d["status"] for d in gone} == {"gone"}
    assert sum(d["attempts"] for d in gone) == 1 and gone[0]["last_status_code"] == 410


def test_classifier_jobs_send_classify_events(
        stack: Stack, http: httpx.Client, receiver: Receiver) -> None:
    rules = json.loads((ROOT.parent / "shared" / "classify" / "rules.json").read_text())
    stored = stack.sdk().files.create(
        file=("phone.txt", io.BytesIO(b"The new smartphone ships with faster software and a "
                                      b"better camera.")), purpose="classify")
    response = http.post("/api/v1/classifier/jobs", json={
        "file_ids": [stored.id], "rules": rules, "webhook_configurations": [
            {"webhook_url": receiver.url("/c/all"), "webhook_output_format": "json"},
            {"webhook_url": receiver.url("/c/parse-only"), "webhook_events": ["parse.success"]},
        ]})
    assert response.status_code == 200, response.text
    batch_id = response.json()["job_record_id"]
    _settled(http, batch_id, 3)
    assert _events(receiver.at("/c/all")) == [
        "classify.pending", "classify.running", "classify.success"]
    last = receiver.at("/c/all")[-1].payload()["data"]
    assert last["classifier_job_id"] == response.json()["id"]
    assert last["links"]["classifier_results"].endswith(f"/{response.json()['id']}/results")
    assert receiver.at("/c/parse-only") == []


def test_cancel_sends_cancelled_last(stack: Stack, http: httpx.Client,
                                     receiver: Receiver) -> None:
    items = _upload(stack, _text(16))
    job_id = http.post(PARSE, json={"job_config": {"parameters": {
        "do_not_cache": True, "webhook_url": receiver.url("/d/hook")}}, "item_ids": items,
        "page_size": 1}).json()["id"]
    response = http.post(f"{PARSE}/{job_id}/cancel", json={"reason": "changed my mind"})
    assert response.status_code == 200, response.text
    wait_job(stack.sdk(), job_id)
    log = wait_for(lambda: (lg := _log(http, job_id)) and lg[-1]["event_type"] ==
                   "parse.cancelled" and all(d["status"] == "delivered" for d in lg) and lg,
                   timeout=60, message="cancelled event delivered")
    events = _events(receiver.at("/d/hook"))
    assert events in (["parse.pending", "parse.cancelled"],
                      ["parse.pending", "parse.running", "parse.cancelled"])
    assert [d["event_type"] for d in log] == events
    assert receiver.at("/d/hook")[-1].payload()["data"]["status"] == "cancelled"


def test_a_dead_receiver_does_not_hold_up_the_batch(
        stack: Stack, http: httpx.Client, receiver: Receiver) -> None:
    job_id = _create(http, {"parameters": {"webhook_url": receiver.url("/hold/dead")}},
                     _upload(stack, {"broken.pdf": b"%PDF-1.7\n garbage \x00\xff"}))
    status = wait_job(stack.sdk(), job_id)
    wait_for(lambda: receiver.at("/hold/dead"), timeout=30, message="a held request")
    # The job has failed and is final while the receiver has answered nothing at all.
    assert status.job.status == "failed" and not receiver.held.is_set()
    assert not any(d["status"] == "delivered" for d in _log(http, job_id))
    timed_out = wait_for(lambda: _log(http, job_id)[0]["attempt_log"], timeout=30,
                         message="the first attempt to end")
    assert (timed_out[0]["status_code"], timed_out[0]["error"]) == (None, "timed out after 2 s")
    receiver.release()
    log = _settled(http, job_id, 3)
    firsts = list(dict.fromkeys(_events(receiver.at("/hold/dead"))))
    assert firsts == ["parse.pending", "parse.running", "parse.error"]
    assert all(d["status"] == "delivered" for d in log) and log[0]["attempts"] >= 2


def test_private_targets_are_a_422_when_not_allowed(
        tmp_path: Path, stack: Stack) -> None:
    settings = with_overrides(stack.settings, data_dir=str(tmp_path),
                              namespace=f"t{uuid.uuid4().hex[:8]}-",
                              webhook_allow_private_networks=False)
    with running_stack(settings, workers=0) as strict, httpx.Client(
            base_url=strict.url, headers=strict.headers(), timeout=30) as client:
        response = client.post(PARSE, json={"item_ids": ["x"], "job_config": {
            "webhook_url": "http://169.254.169.254/latest/meta-data",
            "parameters": {"webhook_configurations": [
                {"webhook_url": "http://localhost:8080/hook"}]}}})
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert [d["loc"] for d in detail] == [
            ["body", "job_config", "webhook_url"],
            ["body", "job_config", "parameters", "webhook_configurations", 0, "webhook_url"]]
        assert "metadata" in detail[0]["msg"] and "loopback" in detail[1]["msg"]
        stored = strict.sdk().files.create(file=("a.txt", io.BytesIO(b"words")),
                                           purpose="classify")
        response = client.post("/api/v1/classifier/jobs", json={
            "file_ids": [stored.id], "rules": [{"type": "a", "description": "a bill"}],
            "webhook_configurations": [{"webhook_url": "http://10.1.2.3/hook"}]})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == [
            "body", "webhook_configurations", 0, "webhook_url"]


def _assert_no_secrets(stack: Stack, http: httpx.Client, job_id: str,
                       receiver: Receiver) -> None:
    seen: list[str] = [r.body.decode() for r in receiver.requests]
    item = stack.sdk().beta.batch.job_items.list(job_id).items[0]
    for path in (f"{PARSE}/{job_id}", f"{PARSE}/{job_id}/items", PARSE,
                 f"{PARSE}/{job_id}/webhook-deliveries",
                 f"{PARSE}/items/{item.item_id}/processing-results"):
        response = http.get(path)
        assert response.status_code == 200, path
        seen.append(response.text)
    seen += [p.read_text(errors="replace") for p in Path(stack.settings.data_dir).glob("*.log")]
    assert len(seen) > 8
    for secret in SECRETS.values():
        assert not any(secret in text for text in seen)
