"""Directories, files, health, CLI and the embedded all-in-one, through real processes."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys

import pytest
import requests
from llama_cloud import APIStatusError

from tests.conformance.sdk_flow import wait_job
from tests.conftest import base_settings, running_stack
from tests.harness import CORPUS, ROOT, free_port, settings_env, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def small_limits(tmp_path_factory: pytest.TempPathFactory):
    settings = base_settings(tmp_path_factory.mktemp("limits"), max_upload_bytes=200_000,
                             max_body_bytes=50_000)
    with running_stack(settings) as stack:
        yield stack


def test_directory_and_file_lifecycle(small_limits) -> None:
    client = small_limits.sdk()
    directory = client.beta.directories.create(name="life", description="first")
    assert client.beta.directories.update(directory.id, name="renamed").name == "renamed"
    other = client.beta.directories.create(name="other")
    names = [d.name for d in client.beta.directories.list()]
    assert {"renamed", "other"} <= set(names)

    data = (CORPUS / "minimal-document.pdf").read_bytes()
    stored = client.files.create(file=("m.pdf", data), purpose="parse")
    assert stored.file_type == "pdf"  # sniffed from the bytes
    added = client.beta.directories.files.add(directory.id, file_id=stored.id,
                                              display_name="added.pdf", metadata={"k": "v"})
    assert added.display_name == "added.pdf" and added.metadata == {"k": "v"}
    with pytest.raises(APIStatusError) as dup:
        client.beta.directories.files.add(directory.id, file_id=stored.id)
    assert dup.value.status_code == 409  # unique_id defaults to the file id

    moved = client.beta.directories.files.update(
        added.id, directory_id=directory.id, target_directory_id=other.id,
        display_name="moved.pdf")
    assert moved.directory_id == other.id
    assert client.beta.directories.files.get(added.id, directory_id=other.id).display_name \
        == "moved.pdf"

    link = client.files.get(stored.id)
    assert requests.get(link.url, timeout=10).content == data
    tampered = link.url.replace("signature=", "signature=0")
    assert requests.get(tampered, timeout=10).status_code == 403

    client.beta.directories.files.delete(added.id, directory_id=other.id)
    assert list(client.beta.directories.files.list(other.id)) == []
    client.beta.directories.delete(directory.id)
    with pytest.raises(APIStatusError) as gone:
        client.beta.directories.get(directory.id)
    assert gone.value.status_code == 404
    deleted = list(client.beta.directories.list(include_deleted=True))
    assert directory.id in [d.id for d in deleted]


def test_limits_and_errors_have_one_shape(small_limits) -> None:
    client = small_limits.sdk()
    directory = client.beta.directories.create(name="limits")
    with pytest.raises(APIStatusError) as big:
        client.beta.directories.files.upload(
            directory.id, upload_file=("big.bin", io.BytesIO(os.urandom(300_000))))
    assert big.value.status_code == 413 and "limit" in big.value.body["detail"]
    assert list(client.beta.directories.files.list(directory.id)) == []

    url, headers = small_limits.url + "/api/v1/beta/batch-processing", small_limits.headers()
    cases = [
        (requests.post(url, data=b"{not json", headers=headers | {
            "Content-Type": "application/json"}, timeout=10), 422),
        (requests.post(url, json={"job_config": {}, "item_ids": ["x" * 10] * 10_000},
                       headers=headers, timeout=10), 413),
        (requests.post(url, json={"job_config": {}, "item_ids": ["nope"]}, headers=headers,
                       timeout=10), 422),
        (requests.get(url, params={"limit": 5000}, headers=headers, timeout=10), 422),
        (requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10), 401),
        (requests.get(url, timeout=10), 401),
        (requests.get(url + "/bjb-missing/items", headers=headers, timeout=10), 404),
        (requests.get(small_limits.url + "/api/v1/beta/directories",
                      params={"page_token": "garbage!"}, headers=headers, timeout=10), 422),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        assert "detail" in response.json()
    assert cases[2][0].json()["detail"][0]["loc"] == ["body", "item_ids", 0]
    assert requests.get(small_limits.url + "/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(small_limits.url + "/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


def test_cli_keys_create_prints_key_last(tmp_path) -> None:
    env = settings_env(base_settings(tmp_path))
    out = subprocess.run([sys.executable, "-m", "batchsvc.cli", "keys", "create", "--project",
                          "acme"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    key = out.strip().splitlines()[-1]
    assert key.startswith("llx-") and len(key) > 30


def test_embedded_run_serves_a_batch(tmp_path) -> None:
    """`batchsvc run` (what `make run` starts): API + worker + scheduler, no services."""
    port = free_port()
    env = settings_env(base_settings(tmp_path)) | {"BATCHSVC_PORT": str(port)}
    log = (tmp_path / "run.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "batchsvc.cli", "run"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def printed_key() -> str | None:
            log.seek(0)
            match = re.search(r"API key: (\S+)", log.read())
            return match.group(1) if match else None

        key = wait_for(printed_key, timeout=90, message="the API key line")
        wait_for(lambda: _up(port), timeout=60, message="the API")
        log.seek(0)
        dashboard = re.search(r"dashboard: (\S+)", log.read())
        assert dashboard and dashboard.group(1) == f"http://127.0.0.1:{port}/ui/"
        signin = requests.get(dashboard.group(1), timeout=10)
        assert signin.url.endswith("/ui/login?next=/ui/") and "API key" in signin.text
        from llama_cloud import LlamaCloud

        client = LlamaCloud(api_key=key, base_url=f"http://127.0.0.1:{port}")
        directory = client.beta.directories.create(name="run")
        client.beta.directories.files.upload(
            directory.id, upload_file=("hello.txt", io.BytesIO(b"hello from make run")))
        job = client.beta.batch.create(job_config={"parameters": {}}, directory_id=directory.id)
        assert wait_job(client, job.id).job.processed_items == 1
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
    except requests.RequestException:
        return False


def test_a_lost_result_is_410_not_500(small_limits) -> None:
    client = small_limits.sdk()
    directory = client.beta.directories.create(name="lost")
    client.beta.directories.files.upload(
        directory.id, upload_file=("lost.txt", io.BytesIO(b"soon to be lost")))
    job = client.beta.batch.create(job_config={"parameters": {"do_not_cache": True}},
                                   directory_id=directory.id)
    wait_job(client, job.id)
    (item,) = list(client.beta.batch.job_items.list(job.id))
    results = small_limits.settings.data_path / "files" / "results"
    for stored in results.rglob("*.json"):
        if job.id in str(stored):
            stored.unlink()
    response = requests.get(f"{small_limits.url}/api/v2/parse/{item.job_id}",
                            params={"expand": "text"}, headers=small_limits.headers(),
                            timeout=10)
    assert response.status_code == 410 and "no longer available" in response.json()["detail"]
