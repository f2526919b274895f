"""Fault scenarios on a private stack, shared by ``tests/faults`` and ``bench/faults.py``.

Each scenario starts a small batch (tiny text files plus two scanned PDFs whose OCR keeps an
item in flight for seconds), injects one fault while items are in flight, waits a bounded
time for the batch to end and returns its accounting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from tests.conftest import Stack, base_settings, running_stack
from tests.faults.services import PrivatePostgres, PrivateRedis
from tests.harness import CORPUS, Worker

SLOW_DOC = CORPUS / "ocr_test_rotated_90.pdf"  # a scanned page: seconds of OCR
TERMINAL = ("completed", "failed", "cancelled")
ITEM_QUEUES = ("parse", "classify")
FINISH_TIMEOUT = 150.0


@dataclass
class FaultEnv:
    """Private Postgres + Redis, a control worker (with the sweeper) and an item worker."""

    pg: PrivatePostgres
    redis: PrivateRedis
    stack: Stack
    item_worker: Worker = field(init=False)

    def __post_init__(self) -> None:
        self.item_worker = self.stack.add_worker(queues=ITEM_QUEUES, concurrency=2)

    def ensure_item_worker(self) -> Worker:
        if self.item_worker.proc.poll() is not None:
            self.item_worker = self.stack.add_worker(queues=ITEM_QUEUES, concurrency=2)
        return self.item_worker


@contextmanager
def fault_env(tmp: Path, **overrides: Any) -> Iterator[FaultEnv]:
    pg, redis = PrivatePostgres(), PrivateRedis()
    try:
        # Short lease and sweep so recovery after a fault takes seconds, not minutes; the
        # lease still exceeds the slowest item (one OCR page).
        settings = replace(base_settings(tmp, database_url=pg.url, broker_url=redis.url),
                           item_lease_seconds=15, sweep_interval_seconds=1.0, **overrides)
        with running_stack(settings, queues=("control", "webhooks")) as stack:
            yield FaultEnv(pg, redis, stack)
    finally:
        redis.close()
        pg.close()


@dataclass
class Outcome:
    job_id: str
    status: str
    total: int
    counts: dict[str, int]
    duplicate_lineage: int
    seconds: float
    api_checks: dict[str, Any] = field(default_factory=dict)

    @property
    def accounted(self) -> bool:
        """Every item terminal, the sum matches, at most one lineage record per item."""
        terminal = sum(self.counts.get(s, 0) for s in ("completed", "failed", "skipped",
                                                         "cancelled"))
        return (self.status in TERMINAL and terminal == self.total
                and not self.counts.get("pending") and not self.counts.get("processing")
                and self.duplicate_lineage == 0)


def create_batch(stack: Stack, files: dict[str, bytes], parameters: dict[str, Any],
                 page_size: int = 10) -> str:
    """Upload ``files`` into a new directory and start a parse batch over it."""
    api, headers = stack.url + "/api/v1/beta", stack.headers()
    directory = requests.post(f"{api}/directories", json={"name": f"f-{uuid.uuid4().hex[:6]}"},
                              headers=headers, timeout=30).json()["id"]
    for name, body in files.items():
        response = requests.post(f"{api}/directories/{directory}/files/upload",
                                 files={"upload_file": (name, body)}, headers=headers,
                                 timeout=60)
        response.raise_for_status()
    response = requests.post(f"{api}/batch-processing", headers=headers, timeout=60, json={
        "job_config": {"parameters": parameters}, "directory_id": directory,
        "page_size": page_size})
    response.raise_for_status()
    return response.json()["id"]


def start_batch(stack: Stack, n_text: int = 18, slow_at: tuple[int, ...] = (1, 9)) -> str:
    """``n_text`` tiny text files with scanned PDFs at ``slow_at``."""
    slow = SLOW_DOC.read_bytes()
    files = {(f"scan-{n}.pdf" if n in slow_at else f"note-{n}.txt"):
             (slow if n in slow_at else f"Note {n}: nothing lost, nothing stuck.".encode())
             for n in range(n_text + len(slow_at))}
    # invalidate_cache: every run really parses, however often the bench repeats it.
    return create_batch(stack, files, {"invalidate_cache": True})


def job_items(stack: Stack, job_id: str) -> dict[str, dict[str, Any]]:
    response = requests.get(f"{stack.url}/api/v1/beta/batch-processing/{job_id}/items",
                            params={"limit": 100}, headers=stack.headers(), timeout=30)
    response.raise_for_status()
    return {item["item_name"]: item for item in response.json()["items"]}


def _query(stack: Stack, sql: str, **params: Any) -> list[Any]:
    with stack.session() as session:
        return list(session.execute(sa.text(sql), params).all())


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.2) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = predicate()
        except sa.exc.OperationalError:
            value = None  # the database is down on purpose in one scenario
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def wait_in_flight(stack: Stack, job_id: str, name_like: str = "scan-%") -> None:
    """Until a slow item is being processed: the moment to inject a fault."""
    wait_until(lambda: _query(
        stack, "select 1 from job_items where job_id = :j and status = 'processing' "
        "and item_name like :n", j=job_id, n=name_like), 60, "a slow item in flight")


def wait_finished(stack: Stack, job_id: str, timeout: float = FINISH_TIMEOUT) -> None:
    wait_until(lambda: _query(
        stack, "select 1 from batch_jobs where id = :j and completed_at is not null",
        j=job_id), timeout, f"job {job_id} to finish", interval=0.5)


def outcome(stack: Stack, job_id: str, started: float) -> Outcome:
    job = _query(stack, "select status, total_items from batch_jobs where id = :j",
                 j=job_id)[0]
    counts = dict(_query(stack, "select status, count(*) from job_items where job_id = :j "
                                "group by status", j=job_id))
    duplicates = _query(stack, "select item_id from processing_results where job_id = :j "
                               "group by item_id having count(*) > 1", j=job_id)
    return Outcome(job_id, job.status, job.total_items, counts, len(duplicates),
                   round(time.time() - started, 1))


def _busy_pool_child(worker: Worker) -> int | None:
    """The pool child running OCR: the one with a tesseract process of its own."""
    for pid in worker.children():
        grandchildren = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                       text=True).stdout.split()
        if grandchildren:
            return pid
    return None


def kill_worker(env: FaultEnv) -> dict[str, Any]:
    """kill -9 of the item worker's whole process group mid-batch, then a fresh worker."""
    env.item_worker.kill(signal.SIGKILL)
    env.ensure_item_worker()
    return {}


def kill_pool_child(env: FaultEnv) -> dict[str, Any]:
    """kill -9 of the pool child that is running an OCR item; the worker replaces it."""
    pid = wait_until(lambda: _busy_pool_child(env.item_worker), 60, "a busy pool child")
    os.kill(pid, signal.SIGKILL)
    return {"killed_pid": pid}


def restart_redis(env: FaultEnv, down_seconds: float = 3.0) -> dict[str, Any]:
    """Stop Redis (losing every queued message and chord counter), create a batch while it
    is down, start it again."""
    env.redis.stop()
    try:
        response = requests.post(
            f"{env.stack.url}/api/v1/beta/batch-processing", headers=env.stack.headers(),
            timeout=60, json={"job_config": {"parameters": {"invalidate_cache": True}},
                              "item_ids": [_any_item(env.stack)]})
        time.sleep(down_seconds)
    finally:
        env.redis.start()
    return {"create_while_down": response.status_code,
            "created_job": response.json().get("id")}


def _any_item(stack: Stack) -> str:
    return _query(stack, "select id from directory_files where display_name like 'note-%' "
                         "limit 1")[0].id


def restart_postgres(env: FaultEnv, down_seconds: float = 4.0) -> dict[str, Any]:
    """Stop PostgreSQL mid-batch (fast shutdown: every connection dropped), probe the API
    while it is down, start it again."""
    env.pg.stop("fast")
    try:
        status = requests.get(f"{env.stack.url}/api/v1/beta/batch-processing",
                              headers=env.stack.headers(), timeout=60)
        ready = requests.get(f"{env.stack.url}/readyz", timeout=60)
        time.sleep(down_seconds)
    finally:
        env.pg.start()
    return {"api_status": status.status_code, "api_body": status.json(),
            "ready_status": ready.status_code, "ready_body": ready.json()}


FAULTS: dict[str, Callable[[FaultEnv], dict[str, Any]]] = {
    "kill -9 worker": kill_worker,
    "kill -9 pool child": kill_pool_child,
    "redis restart": restart_redis,
    "postgres restart": restart_postgres,
}


def run_fault(env: FaultEnv, fault: str) -> list[Outcome]:
    """One batch, one fault mid-batch; the outcomes of every batch the fault touched."""
    env.ensure_item_worker()
    started = time.time()
    job_id = start_batch(env.stack)
    wait_in_flight(env.stack, job_id)
    checks = FAULTS[fault](env)
    jobs = [job_id] + ([checks["created_job"]] if checks.get("created_job") else [])
    results = []
    for job in jobs:
        with suppress(TimeoutError):  # a batch that never ends is reported, not raised
            wait_finished(env.stack, job)
        result = outcome(env.stack, job, started)
        result.api_checks = checks
        results.append(result)
    return results
