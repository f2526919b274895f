"""The product around the API, on one live cluster stack (Postgres, Redis, gunicorn API, a
``batchsvc worker`` in JSON-log mode with its metrics port): the commands the containers run,
Flower, ``batchsvc submit``, retry / results / events, /metrics and JSON logs."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
import threading
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Stack, base_settings, running_stack
from tests.harness import (
    CORPUS,
    REDIS_URL,
    ROOT,
    Cli,
    free_port,
    port_open,
    settings_env,
    wait_for,
)

pytestmark = pytest.mark.integration
API = "/api/v1/beta/batch-processing"
PDFS = ["minimal-document.pdf", "002-trivial-libre-office-writer.pdf"]
CORRUPT = bytes(range(256)) * 16  # named .pdf, it is not one


class Hooks(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server interface
        self.received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def hooks() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


@pytest.fixture(scope="module")
def stack(module_pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not port_open(6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    settings = replace(base_settings(
        tmp_path_factory.mktemp("product"), database_url=module_pg_url, broker_url=REDIS_URL,
        worker_concurrency=2, worker_metrics_port=free_port()), log_json=True)
    with running_stack(settings, workers=0) as live:
        name = f"w{uuid.uuid4().hex[:8]}@product"
        worker = Cli(live.settings, "worker", "-n", name, "--without-gossip", "--without-mingle",
                     "--beat", "--schedule", str(Path(settings.data_dir) / "beat"))
        try:
            worker.wait_for(lambda: " ready." in worker.text(), "worker ready")
            live.worker_cli, live.worker_name = worker, name  # type: ignore[attr-defined]
            yield live
        finally:
            worker.stop()


def call(stack: Stack, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, stack.url + path, headers=stack.headers(),
                            timeout=60, **kw)


def upload(stack: Stack, files: dict[str, bytes]) -> list[str]:
    directory = call(stack, "POST", "/api/v1/beta/directories",
                     json={"name": "product"}).json()["id"]
    return [call(stack, "POST", f"/api/v1/beta/directories/{directory}/files/upload",
                 files={"upload_file": (name, data)}).json()["id"]
            for name, data in files.items()]


def create(stack: Stack, item_ids: list[str], **config: Any) -> str:
    body = {"job_config": config or {"parameters": {}}, "item_ids": item_ids}
    response = call(stack, "POST", API, json=body)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def finished(stack: Stack, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = call(stack, "GET", f"{API}/{job_id}").json()["job"]
        return job if job["status"] in ("completed", "failed") and job["completed_at"] \
            else None
    return wait_for(done, timeout=120, message=f"job {job_id}")


def corpus(*names: str) -> dict[str, bytes]:
    return {name: (CORPUS / name).read_bytes() for name in names}


def test_the_commands_containers_run(stack: Stack) -> None:
    env = settings_env(stack.settings)
    migrate = subprocess.run([sys.executable, "-m", "batchsvc.cli", "db", "upgrade"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0 and "latest revision" in migrate.stdout, migrate.stderr
    # The worker container's healthcheck, against the live worker.
    ping = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks.worker", "inspect", "ping", "-d",
         stack.worker_name, "--timeout", "10"],  # type: ignore[attr-defined]
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert ping.returncode == 0 and "pong" in ping.stdout, ping.stdout + ping.stderr
    beat = Cli(stack.settings, "beat", "--schedule",
               str(Path(stack.settings.data_dir) / "beat-cli"))
    try:
        sent = beat.wait_for(lambda: [json.loads(line) for line in beat.text().splitlines()
                                      if "Sending due task sweep" in line], "beat sends sweep")
        assert sent[0]["level"] == "INFO"  # JSON lines: --quiet dropped the banner
    finally:
        beat.stop()


def test_flower_shows_batchsvc_tasks(stack: Stack) -> None:
    port = free_port()
    flower = Cli(stack.settings, "flower", f"--port={port}", "--address=127.0.0.1",
                 env={"FLOWER_UNAUTHENTICATED_API": "true"})
    try:
        base = f"http://127.0.0.1:{port}"
        flower.wait_for(lambda: port_open(port), "flower listening")
        assert requests.get(f"{base}/healthcheck", timeout=5).text == "OK"  # compose's check
        flower.wait_for(lambda: stack.worker_name in requests.get(  # type: ignore[attr-defined]
            f"{base}/api/workers", params={"status": "true"}, timeout=5).json(),
            "worker events in Flower")
        items = upload(stack, corpus(*PDFS))

        def ours() -> set[str] | None:
            # Workers send task events once Flower has switched them on (within its enable
            # interval of connecting): batches run until Flower has seen one whole.
            finished(stack, create(stack, items, parameters={"invalidate_cache": True}))
            tasks = requests.get(f"{base}/api/tasks", timeout=10).json()
            names = {t["name"] for t in tasks.values()
                     if t.get("worker") == stack.worker_name and t.get("name")}  # type: ignore[attr-defined]
            wanted = {"batchsvc.dispatch_job", "batchsvc.parse_item", "batchsvc.page_done"}
            return names if wanted <= names else None
        names = flower.wait_for(ours, "batchsvc tasks in Flower", timeout=90)
        assert all(name.startswith("batchsvc.") for name in names)
    finally:
        flower.stop()


def test_submit_parses_a_folder_with_progress(stack: Stack, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, data in corpus(*PDFS, "table_06.html").items():
        (inbox / name).write_bytes(data)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "batchsvc.cli", "submit", str(inbox), "--parse",
         "--out", str(out), "--url", stack.url],
        cwd=ROOT, env=os.environ | {"BATCHSVC_API_KEY": stack.key, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert re.match(r"job bjb-[0-9a-f-]+ \(parse, 3 files, directory ", done.stdout)
    progress = done.stderr.splitlines()
    assert any(line.startswith("uploading") and "3/3 files" in line for line in progress)
    last = progress[-1]
    assert last.startswith("completed") and "3/3 100%" in last and "items/s" in last
    assert sorted(p.name for p in out.iterdir()) == [
        "002-trivial-libre-office-writer.pdf.md", "manifest.jsonl", "minimal-document.pdf.md",
        "table_06.html.md"]
    assert "|" in (out / "table_06.html.md").read_text()  # the table came out as markdown
    assert all((out / f"{n}.md").read_text().strip() for n in PDFS)


def test_submit_classifies_with_a_live_bar_on_a_terminal(stack: Stack, tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([
        {"type": "invoice", "description": "a bill asking a customer to pay an amount"},
        {"type": "recipe", "description": "cooking instructions with ingredients"}]))
    (tmp_path / "bill.txt").write_text("Invoice 1001. Amount due: 420 EUR. Pay by 1 May.")
    (tmp_path / "soup.txt").write_text("Tomato soup. Ingredients: tomatoes, salt. Boil 20 min.")
    out = tmp_path / "out"
    main, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchsvc.cli", "submit", str(tmp_path / "bill.txt"),
         str(tmp_path / "soup.txt"), "--classify", str(rules), "--out", str(out),
         "--url", stack.url, "--api-key", stack.key],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=terminal, env=settings_env(stack.settings))
    os.close(terminal)
    screen = bytearray()
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        screen += chunk
    assert proc.wait(timeout=180) == 0, screen.decode(errors="replace")
    os.close(main)
    text = screen.decode()
    assert "\r" in text and "2/2 100%" in text  # redrawn in place, then final
    lines = [json.loads(x) for x in (out / "classifications.jsonl").read_text().splitlines()]
    assert {x["item_name"]: x["type"] for x in lines} == {"bill.txt": "invoice",
                                                          "soup.txt": "recipe"}
    assert b"wrote 1 files" in proc.stdout.read()


def sse(response: requests.Response) -> Iterator[dict[str, Any]]:
    event: dict[str, Any] = {}
    for line in response.iter_lines(chunk_size=None, decode_unicode=True):
        if not line:
            if "event" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            event[key] = json.loads(value) if key == "data" else value


def test_events_results_and_retry(stack: Stack, hooks: str) -> None:
    files = corpus(*PDFS) | {"broken.pdf": CORRUPT}
    job_id = create(stack, upload(stack, files), webhook_url=hooks,
                    parameters={"invalidate_cache": True})
    with requests.get(f"{stack.url}{API}/{job_id}/events", headers=stack.headers(),
                      params={"interval": 0.3}, stream=True, timeout=120) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        events = list(sse(stream))
    assert events[-1]["event"] == "end" and all(e["event"] == "progress" for e in events[:-1])
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(set(ids))
    done = [e["data"]["job"]["processed_items"] + e["data"]["job"]["failed_items"]
            for e in events]
    assert done == sorted(done) and done[-1] == 3
    final = events[-1]["data"]
    assert final["progress_percentage"] == 100 and final["job"]["failed_items"] == 1

    jsonl = call(stack, "GET", f"{API}/{job_id}/results", stream=True)
    assert jsonl.headers["Content-Type"] == "application/x-ndjson"
    assert jsonl.headers.get("Transfer-Encoding") == "chunked"  # streamed, no length known
    lines = [json.loads(x) for x in jsonl.iter_lines()]
    assert [x["item_name"] for x in lines] == [*PDFS, "broken.pdf"]
    assert lines[0]["result"]["pages"] and lines[2]["result"] is None
    assert "broken.pdf" not in zipfile.ZipFile(io.BytesIO(call(
        stack, "GET", f"{API}/{job_id}/results", params={"format": "zip"}).content)).namelist()
    bad = call(stack, "GET", f"{API}/{job_id}/results", params={"format": "tar"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "format"]

    # A document "lost to a crash" fails; its retry must run it again, not reuse the result.
    with stack.session() as session:
        session.execute(sa.text("UPDATE job_items SET status='failed' WHERE job_id=:j AND "
                                "item_name=:n"), {"j": job_id, "n": PDFS[0]})
    retry = call(stack, "POST", f"{API}/{job_id}/retry", json={"include_cancelled": False})
    assert retry.status_code == 200, retry.text
    body = retry.json()
    assert body["retry_of"] == job_id and body["total_items"] == 2
    final_retry = finished(stack, body["id"])
    assert final_retry["processed_items"] == 1 and final_retry["failed_items"] == 1
    assert final_retry["skipped_items"] == 0
    items = call(stack, "GET", f"{API}/{body['id']}/items").json()["items"]
    assert {i["item_name"]: i["status"] for i in items} == {PDFS[0]: "completed",
                                                            "broken.pdf": "failed"}

    clean = create(stack, upload(stack, corpus(PDFS[1])), parameters={"max_pages": 1})
    finished(stack, clean)
    nothing = call(stack, "POST", f"{API}/{clean}/retry", json={})
    assert nothing.status_code == 422 and nothing.json()["detail"][0]["loc"] == [
        "path", "job_id"]
    for route in ("retry", "results", "events"):
        method = "POST" if route == "retry" else "GET"
        missing = call(stack, method, f"{API}/bjb-nope/{route}")
        assert missing.status_code == 404 and "bjb-nope" in missing.json()["detail"]
    assert requests.get(f"{stack.url}{API}/{clean}/results", timeout=10).status_code == 401


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(family: Any, **labels: str) -> list[float]:
    return [s.value for s in family.samples
            if all(s.labels.get(k) == v for k, v in labels.items())]


def test_metrics_from_the_api_and_the_worker(stack: Stack, hooks: str) -> None:
    from batchsvc.messaging import make_celery, queue_name

    api = families(requests.get(f"{stack.url}/metrics", timeout=30).text)
    assert samples(api["batchsvc_jobs"], status="completed", job_type="parse")[0] >= 2
    assert samples(api["batchsvc_items"], status="failed")[0] >= 1
    assert sum(samples(api["batchsvc_webhook_deliveries"])) >= 1
    assert samples(api["batchsvc_dependency_up"]) == [1.0, 1.0]
    assert {s.labels["queue"] for s in api["batchsvc_queue_depth"].samples} == {
        "parse", "classify", "control", "webhooks"}

    # Queue depth is the broker's: park three messages where nobody consumes them.
    app = make_celery(stack.settings)  # this stack's broker, whatever this process used before
    queue, worker = queue_name("classify", stack.settings), [stack.worker_name]  # type: ignore[attr-defined]
    app.control.cancel_consumer(queue, destination=worker, reply=True, timeout=10)
    try:
        for _ in range(3):
            app.send_task("batchsvc.metrics_probe", queue=queue)
        depth = families(requests.get(f"{stack.url}/metrics", timeout=30).text)
        assert samples(depth["batchsvc_queue_depth"], queue="classify") == [3.0]
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)
        app.control.add_consumer(queue, destination=worker, reply=True, timeout=10)
        app.close()

    port = stack.settings.worker_metrics_port
    worker = families(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text)
    duration = worker["batchsvc_item_duration_seconds"]
    assert samples(duration, job_type="parse", file_type="pdf", status="completed")
    counts = [s.value for s in duration.samples if s.name.endswith("_count")
              and s.labels["status"] == "failed" and s.labels["file_type"] == "pdf"]
    assert counts and counts[0] >= 1
    assert samples(worker["batchsvc_pages_parsed"], job_type="parse", file_type="pdf")[0] >= 2
    assert samples(worker["batchsvc_items_finished"], job_type="classify",
                   status="completed")[0] >= 2


def test_json_logs_carry_ids(stack: Stack) -> None:
    worker_lines = [json.loads(line) for line in
                    stack.worker_cli.text().splitlines() if line.strip()]  # type: ignore[attr-defined]
    items = [e for e in worker_lines if e.get("task_name") == "batchsvc.parse_item"
             and e.get("job_id") and e.get("item_id") and e.get("task_id")]
    assert items, "no worker line names its job, item and task"

    port = free_port()
    server = Cli(stack.settings, "serve", "--host", "127.0.0.1", "--port", str(port),
                 env={"BATCHSVC_BOOTSTRAP_API_KEY": stack.key, "BATCHSVC_API_WORKERS": "1"})
    try:
        server.wait_for(lambda: port_open(port), "batchsvc serve listening")
        url = f"http://127.0.0.1:{port}{API}"
        response = requests.get(url, headers=stack.headers() | {"X-Request-ID": "trace-7"},
                                timeout=30)
        assert response.status_code == 200 and response.headers["X-Request-ID"] == "trace-7"
        entries = server.wait_for(lambda: [json.loads(line) for line in
                                           server.text().splitlines() if line.strip()]
                                  if "trace-7" in server.text() else None, "access line")
    finally:
        server.stop()
    access = [e for e in entries if e.get("request_id") == "trace-7"]
    assert access[0]["status"] == 200 and access[0]["path"] == API
    assert any(e["logger"] == "gunicorn.error" for e in entries)  # gunicorn's own, as JSON
