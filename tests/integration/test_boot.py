"""Starting the way users do: a fresh database, every process at once, in any order.

The cluster of `docker/compose.yaml` — API (two gunicorn workers), two workers, beat — started
together on a freshly migrated database must come up every time; an unmigrated database gets
one line and a non-zero exit, never a traceback; beat needs no directory to exist first."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from batchsvc.settings import Settings
from tests.conftest import base_settings
from tests.harness import (
    REDIS_URL,
    ROOT,
    Cli,
    free_port,
    port_open,
    postgres_database,
    settings_env,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture()
def fresh_pg() -> Iterator[str]:
    if not port_open(5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    with postgres_database() as url:
        yield url


def _batchsvc(settings: Settings, *argv: str, timeout: float = 120,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "batchsvc.cli", *argv], cwd=ROOT,
                          env=settings_env(settings) | (env or {}), capture_output=True,
                          text=True, timeout=timeout)


def _bootstrap(env: dict[str, str], barrier: multiprocessing.synchronize.Barrier) -> None:
    import os

    os.environ.update(env)
    from batchsvc.bootstrap import ensure_bootstrap_key

    barrier.wait()
    ensure_bootstrap_key()


def test_bootstrap_key_is_safe_to_create_from_many_processes(fresh_pg: str,
                                                             tmp_path: Path) -> None:
    """Every API process bootstraps the key at import; eight at the same instant, on a
    database that has neither the project nor the key yet, must all succeed."""
    settings = base_settings(tmp_path, database_url=fresh_pg)
    assert _batchsvc(settings, "db", "upgrade").returncode == 0
    ctx = multiprocessing.get_context("spawn")
    for _ in range(3):
        env = settings_env(settings) | {"BATCHSVC_BOOTSTRAP_API_KEY": f"llx-{uuid.uuid4()}",
                                        "BATCHSVC_DEFAULT_PROJECT": f"p-{uuid.uuid4().hex}"}
        barrier = ctx.Barrier(8)
        procs = [ctx.Process(target=_bootstrap, args=(env, barrier)) for _ in range(8)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        assert [proc.exitcode for proc in procs] == [0] * 8


def test_migrations_may_run_from_several_processes_at_once(fresh_pg: str,
                                                           tmp_path: Path) -> None:
    settings = base_settings(tmp_path, database_url=fresh_pg)
    procs = [subprocess.Popen([sys.executable, "-m", "batchsvc.cli", "db", "upgrade"],
                              cwd=ROOT, env=settings_env(settings), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    outputs = [proc.communicate(timeout=180)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, outputs
    assert all("latest revision" in out for out in outputs), outputs


@pytest.mark.parametrize("command", [["serve"], ["worker"]])
def test_an_unmigrated_database_gets_one_line_and_exit_2(fresh_pg: str, tmp_path: Path,
                                                        command: list[str]) -> None:
    # Only the waiting time is changed: the behaviour under test is what happens after it.
    settings = replace(base_settings(tmp_path, database_url=fresh_pg, broker_url=REDIS_URL),
                       schema_wait_seconds=2.0)
    done = _batchsvc(settings, *command, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert "not migrated" in last and "batchsvc db upgrade" in last, done.stderr


def test_beat_starts_when_its_data_directory_does_not_exist(tmp_path: Path) -> None:
    if not port_open(6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    missing = tmp_path / "not" / "yet" / "there"
    settings = replace(base_settings(tmp_path, broker_url=REDIS_URL), data_dir=str(missing))
    log_settings = replace(settings, data_dir=str(tmp_path))  # where Cli writes its log
    beat = Cli(log_settings, "beat", env={"BATCHSVC_DATA_DIR": str(missing)})
    try:
        beat.wait_for(lambda: "Sending due task sweep" in beat.text(), "beat sends sweep")
        wait_for(lambda: (missing / "beat-alive").exists(), timeout=30,
                 message="beat's liveness file")
    finally:
        beat.stop()


def _cluster_round(pg_url: str, tmp: Path) -> None:
    settings = base_settings(tmp, database_url=pg_url, broker_url=REDIS_URL)
    assert _batchsvc(settings, "db", "upgrade").returncode == 0
    key, port = f"llx-{uuid.uuid4().hex}", free_port()
    env = {"BATCHSVC_BOOTSTRAP_API_KEY": key, "BATCHSVC_API_WORKERS": "2"}
    procs = [Cli(settings, "serve", "--port", str(port), env=env),
             *(Cli(settings, "worker", "-n", f"w{n}-{uuid.uuid4().hex[:6]}@boot",
                   "--without-gossip", "--without-mingle", env=env) for n in range(2)),
             Cli(settings, "beat", env=env)]
    try:
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        procs[0].wait_for(lambda: _answers(url + "/api/v1/beta/directories", headers),
                          "the API to answer with the bootstrap key")
        for worker in procs[1:3]:
            worker.wait_for(lambda w=worker: " ready." in w.text(), "worker ready")
        directory = requests.post(url + "/api/v1/beta/directories", headers=headers,
                                  json={"name": "boot"}, timeout=30).json()["id"]
        requests.post(f"{url}/api/v1/beta/directories/{directory}/files/upload",
                      headers=headers, files={"upload_file": ("a.txt", b"booted")},
                      timeout=30).raise_for_status()
        job = requests.post(url + "/api/v1/beta/batch-processing", headers=headers, timeout=30,
                            json={"job_config": {"parameters": {}},
                                  "directory_id": directory}).json()["id"]
        procs[0].wait_for(lambda: requests.get(
            f"{url}/api/v1/beta/batch-processing/{job}", headers=headers,
            timeout=30).json()["job"]["status"] == "completed", "the batch to complete")
    finally:
        for proc in procs:
            proc.stop()


def _answers(url: str, headers: dict[str, str]) -> bool:
    try:
        return requests.get(url, headers=headers, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_a_cold_cluster_comes_up_every_time(tmp_path: Path) -> None:
    """compose's processes, all started at once on a fresh database, three times over."""
    if not port_open(5432) or not port_open(6379):
        pytest.skip("PostgreSQL and Redis are needed")
    for round_no in range(3):
        with postgres_database() as url:
            _cluster_round(url, tmp_path / f"round-{round_no}")
