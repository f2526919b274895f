"""Fault scenarios on a private stack at the shipped defaults, shared by ``tests/faults`` and
``bench/faults.py``.

The stack is the cluster README describes: the API under gunicorn, a control worker, a
separate beat, two item workers (prefork, 2 children each), on a private PostgreSQL and a
private Redis (or the machine's RabbitMQ). Each scenario starts a small batch (tiny text files
plus scanned PDFs whose OCR keeps items in flight for seconds), injects one fault while items
are in flight, waits a bounded time for the batch to end and returns its accounting, including
how long after the fault every item that was in flight ran again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from tests.conftest import Stack, base_settings, running_stack
from tests.faults.services import PrivatePostgres, PrivateRedis
from tests.harness import AMQP_URL, CORPUS, Cli, Worker

SLOW_DOC = CORPUS / "ocr_test_rotated_90.pdf"  # a scanned page: seconds of OCR
TERMINAL = ("completed", "failed", "cancelled")
ITEM_QUEUES = ("parse", "classify")
ITEM_WORKERS = 2
FINISH_TIMEOUT = 180.0


@dataclass
class FaultEnv:
    """Private Postgres (+ Redis), the API, a control worker, beat and two item workers."""

    pg: PrivatePostgres
    redis: PrivateRedis | None
    stack: Stack
    beat: Cli | None = None
    item_workers: list[Worker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.start_beat()
        self.ensure_item_workers()

    @property
    def broker(self) -> str:
        return "redis" if self.redis is not None else "rabbitmq"

    def start_beat(self) -> Cli:
        beat = self.beat = Cli(self.stack.settings, "beat")
        beat.wait_for(lambda: "beat: Starting" in beat.text(), "beat to start")
        return beat

    def ensure_item_workers(self) -> list[Worker]:
        """Replace dead item workers, so every scenario starts with two."""
        self.item_workers = [w for w in self.item_workers if w.proc.poll() is None]
        while len(self.item_workers) < ITEM_WORKERS:
            self.item_workers.append(self.stack.add_worker(queues=ITEM_QUEUES, concurrency=2))
        return self.item_workers

    def close(self) -> None:
        if self.beat is not None:
            self.beat.stop()


@contextmanager
def fault_env(tmp: Path, broker: str = "redis") -> Iterator[FaultEnv]:
    """Everything at the shipped defaults; only addresses, names and directories differ."""
    pg = PrivatePostgres()
    redis = PrivateRedis() if broker == "redis" else None
    env: FaultEnv | None = None
    try:
        settings = base_settings(tmp, database_url=pg.url,
                                 broker_url=redis.url if redis else AMQP_URL)
        with running_stack(settings, workers=0) as stack:
            stack.add_worker(queues=("control", "webhooks"), concurrency=2)
            env = FaultEnv(pg, redis, stack)
            yield env
    finally:
        if env is not None:
            env.close()
        if redis is not None:
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
    # Seconds from the fault until every item in flight at the fault had run again (or
    # finished); None when the fault left no item in flight.
    recovery_seconds: float | None = None
    api_checks: dict[str, Any] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        terminal = sum(self.counts.get(s, 0) for s in ("completed", "failed", "skipped",
                                                         "cancelled"))
        return self.total - terminal

    @property
    def accounted(self) -> bool:
        """Every item terminal, the sum matches, at most one lineage record per item."""
        return self.status in TERMINAL and self.lost == 0 and self.duplicate_lineage == 0


def upload_directory(stack: Stack, files: dict[str, bytes]) -> str:
    api, headers = stack.url + "/api/v1/beta", stack.headers()
    directory = requests.post(f"{api}/directories", json={"name": f"f-{uuid.uuid4().hex[:6]}"},
                              headers=headers, timeout=30).json()["id"]
    for name, body in files.items():
        response = requests.post(f"{api}/directories/{directory}/files/upload",
                                 files={"upload_file": (name, body)}, headers=headers,
                                 timeout=60)
        response.raise_for_status()
    return directory


def create_batch(stack: Stack, files: dict[str, bytes], parameters: dict[str, Any],
                 page_size: int = 10) -> str:
    """Upload ``files`` into a new directory and start a parse batch over it."""
    directory = upload_directory(stack, files)
    response = requests.post(f"{stack.url}/api/v1/beta/batch-processing",
                             headers=stack.headers(), timeout=60, json={
                                 "job_config": {"parameters": parameters},
                                 "directory_id": directory, "page_size": page_size})
    response.raise_for_status()
    return response.json()["id"]


def batch_files(n_text: int = 18, slow_at: tuple[int, ...] = (1, 9)) -> dict[str, bytes]:
    """``n_text`` tiny text files with scanned PDFs at ``slow_at``."""
    slow = SLOW_DOC.read_bytes()
    return {(f"scan-{n}.pdf" if n in slow_at else f"note-{n}.txt"):
            (slow if n in slow_at else f"Note {n}: nothing lost, nothing stuck.".encode())
            for n in range(n_text + len(slow_at))}


def start_batch(stack: Stack, **kw: Any) -> str:
    # invalidate_cache: every run really parses, however often the bench repeats it.
    return create_batch(stack, batch_files(**kw), {"invalidate_cache": True})


def job_items(stack: Stack, job_id: str) -> dict[str, dict[str, Any]]:
    response = requests.get(f"{stack.url}/api/v1/beta/batch-processing/{job_id}/items",
                            params={"limit": 100}, headers=stack.headers(), timeout=30)
    response.raise_for_status()
    return {item["item_name"]: item for item in response.json()["items"]}


def query(stack: Stack, sql: str, **params: Any) -> list[Any]:
    with stack.session() as session:
        return list(session.execute(sa.text(sql), params).all())


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.2) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = predicate()
        except (sa.exc.OperationalError, requests.ConnectionError):
            value = None  # the database or the API is down on purpose in some scenarios
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def in_flight(stack: Stack, job_id: str, name_like: str = "scan-%") -> list[int]:
    return [row.seq for row in query(
        stack, "select seq from job_items where job_id = :j and status = 'processing' "
        "and item_name like :n", j=job_id, n=name_like)]


def wait_in_flight(stack: Stack, job_id: str, name_like: str = "scan-%") -> None:
    """Until a slow item is being processed: the moment to inject a fault."""
    wait_until(lambda: in_flight(stack, job_id, name_like), 90, "a slow item in flight")


def wait_finished(stack: Stack, job_id: str, timeout: float = FINISH_TIMEOUT) -> None:
    wait_until(lambda: query(
        stack, "select 1 from batch_jobs where id = :j and completed_at is not null",
        j=job_id), timeout, f"job {job_id} to finish", interval=0.5)


def recovery_seconds(stack: Stack, seqs: list[int], fault_at: datetime) -> float | None:
    """How long after the fault the last of ``seqs`` started again (or finished)."""
    if not seqs:
        return None
    rows = query(stack, "select started_at, completed_at from job_items where seq = any(:s)",
                 s=seqs)
    moments = []
    for started, completed in rows:
        again = started if started is not None and started > fault_at else completed
        if again is None:
            return None
        moments.append((again - fault_at).total_seconds())
    return round(max(moments), 1)


def outcome(stack: Stack, job_id: str, started: float) -> Outcome:
    job = query(stack, "select status, total_items from batch_jobs where id = :j", j=job_id)[0]
    counts = dict(query(stack, "select status, count(*) from job_items where job_id = :j "
                               "group by status", j=job_id))
    duplicates = query(stack, "select item_id from processing_results where job_id = :j "
                              "group by item_id having count(*) > 1", j=job_id)
    return Outcome(job_id, job.status, job.total_items, counts, len(duplicates),
                   round(time.time() - started, 1))


def utc_now() -> datetime:
    return datetime.now(UTC)


def run_fault(env: FaultEnv, fault: str,
              faults: Mapping[str, Callable[[Any], dict[str, Any]]] | None = None
              ) -> list[Outcome]:
    """One batch, one fault mid-batch; the outcomes of every batch the fault touched.
    ``faults``: where ``fault`` is found (default: tests/faults/injections.FAULTS)."""
    from tests.faults.injections import FAULTS

    faults = FAULTS if faults is None else faults
    env.ensure_item_workers()
    started = time.time()
    job_id = start_batch(env.stack)
    wait_in_flight(env.stack, job_id)
    held = [row.seq for row in query(env.stack, "select seq from job_items where job_id = :j "
                                     "and status = 'processing'", j=job_id)]
    fault_at = utc_now()
    checks = faults[fault](env)
    jobs = [job_id, *checks.get("created_jobs", [])]
    results = []
    for job in jobs:
        with suppress(TimeoutError):  # a batch that never ends is reported, not raised
            wait_finished(env.stack, job)
        result = outcome(env.stack, job, started)
        result.api_checks = checks
        if job == job_id:
            result.recovery_seconds = recovery_seconds(env.stack, held, fault_at)
        results.append(result)
    return results
