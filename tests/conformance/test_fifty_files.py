"""Issue 2's acceptance run: a 50-file parse batch through the SDK in the embedded mode and on
Postgres + Redis with two workers started by `batchsvc worker`; everything a user can see
agrees between the two."""

from __future__ import annotations

import io

import pytest

from tests.conformance.sdk_flow import snapshot, wait_job
from tests.conftest import REDIS_URL, base_settings, running_stack
from tests.harness import CORPUS

pytestmark = pytest.mark.conformance
CONFIG = {"job_name": "parse_raw_file_job", "parameters": {"max_pages": 2}}


def fifty_files() -> list[tuple[str, bytes]]:
    """Every corpus document, topped up with small generated notes to make fifty."""
    docs = sorted(p for p in CORPUS.iterdir() if p.is_file() and p.suffix not in (".md", ".tsv"))
    files = [(p.name, p.read_bytes()) for p in docs][:50]
    files += [(f"note-{n:02d}.txt", f"Generated note {n}: the quick brown fox.".encode())
              for n in range(50 - len(files))]
    return files


def run_batch(stack) -> dict:
    client = stack.sdk()
    directory = client.beta.directories.create(name="fifty")
    for name, data in fifty_files():
        client.beta.directories.files.upload(directory.id, upload_file=(name, io.BytesIO(data)))
    job = client.beta.batch.create(job_config=CONFIG, directory_id=directory.id, page_size=10)
    final = wait_job(client, job.id, timeout=600)
    assert final.job.total_items == 50
    return snapshot(client, job.id)


def test_fifty_files_agree_between_modes(tmp_path_factory, module_pg_url) -> None:
    with running_stack(base_settings(tmp_path_factory.mktemp("fifty-embedded"))) as embedded:
        embedded_view = run_batch(embedded)
    cluster_settings = base_settings(tmp_path_factory.mktemp("fifty-cluster"),
                                     database_url=module_pg_url, broker_url=REDIS_URL)
    with running_stack(cluster_settings, workers=0) as cluster:
        cluster.add_worker(via_cli=True, beat=True)
        cluster.add_worker(via_cli=True)
        cluster_view = run_batch(cluster)
    assert embedded_view["status"] == "completed"
    statuses = {item["status"] for item in embedded_view["items"]}
    assert statuses <= {"completed", "failed"}
    assert embedded_view == cluster_view
