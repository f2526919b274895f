"""The faults, each injected while a batch has items in flight (see scenarios.run_fault).

Each takes the environment and returns what it checked on the way (for the tests to assert),
and leaves the environment able to run the next scenario (the next run_fault replaces dead
item workers).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests

from tests.faults.scenarios import (
    SLOW_DOC,
    FaultEnv,
    create_batch,
    query,
    wait_until,
)
from tests.harness import Worker


def _busy_pool_child(worker: Worker) -> int | None:
    """A pool child running OCR: the one with a tesseract process of its own."""
    for pid in worker.children():
        grandchildren = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                       text=True).stdout.split()
        if grandchildren:
            return pid
    return None


def _busy_worker(env: FaultEnv) -> Worker:
    return wait_until(lambda: next((w for w in env.item_workers if _busy_pool_child(w)), None),
                      60, "an item worker running OCR")


def kill_worker(env: FaultEnv) -> dict[str, Any]:
    """kill -9 of a busy item worker's whole process group; no replacement is started, so
    the other worker must finish the batch."""
    victim = _busy_worker(env)
    victim.kill(signal.SIGKILL)
    return {"killed": victim.name, "survivors": [w.name for w in env.item_workers
                                                 if w.proc.poll() is None]}


def kill_pool_child(env: FaultEnv) -> dict[str, Any]:
    """kill -9 of the pool child that is running an OCR item; its worker replaces it."""
    # Between two pages a child has no tesseract process: look again until one has.
    worker, pid = wait_until(lambda: next(((w, p) for w in env.item_workers
                                           if (p := _busy_pool_child(w))), None),
                             60, "a pool child running OCR")
    os.kill(pid, signal.SIGKILL)
    return {"killed_pid": pid, "worker": worker.name}


def rolling_restart(env: FaultEnv) -> dict[str, Any]:
    """SIGTERM to each item worker in turn (what a deploy does), a new one started at once.

    A long item (a many-page scan, longer than the shutdown grace) is in flight too, so a
    stopping worker has something it cannot finish and must hand back."""
    long_job = create_batch(env.stack, {"long-scan.pdf": long_scan()},
                            {"invalidate_cache": True})
    [(token,)] = wait_until(lambda: query(
        env.stack, "select claim_token from job_items where job_id = :j and "
        "status = 'processing'", j=long_job), 60, "the long scan to start")
    stopped, seconds = [], []
    for old in list(env.item_workers):
        replacement = env.stack.add_worker(queues=("parse", "classify"), concurrency=2)
        began = time.time()
        old.proc.send_signal(signal.SIGTERM)  # the main process only, as `docker stop` does
        old.proc.wait(timeout=env.stack.settings.worker_shutdown_grace_seconds + 60)
        seconds.append(round(time.time() - began, 1))
        stopped.append(old.name)
        env.item_workers.remove(old)
        env.item_workers.append(replacement)
    return {"stopped": stopped, "stop_seconds": seconds, "created_jobs": [long_job],
            "long_item_token": token}


def long_scan(copies: int = 16) -> bytes:
    """The scanned page repeated: tens of seconds of OCR, longer than the shutdown grace."""
    from pypdf import PdfReader, PdfWriter

    page = PdfReader(io.BytesIO(SLOW_DOC.read_bytes())).pages[0]
    writer = PdfWriter()
    for _ in range(copies):
        writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def restart_redis(env: FaultEnv, down_seconds: float = 3.0) -> dict[str, Any]:
    """Stop Redis (losing every queued message and chord counter), create a batch while it
    is down, start it again."""
    assert env.redis is not None
    env.redis.stop()
    try:
        response = requests.post(
            f"{env.stack.url}/api/v1/beta/batch-processing", headers=env.stack.headers(),
            timeout=60, json={"job_config": {"parameters": {"invalidate_cache": True}},
                              "item_ids": [_any_item(env)]})
        time.sleep(down_seconds)
    finally:
        env.redis.start()
    created = response.json().get("id")
    return {"create_while_down": response.status_code,
            "created_jobs": [created] if created else []}


def _any_item(env: FaultEnv) -> str:
    return query(env.stack, "select id from directory_files where display_name like 'note-%' "
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


def restart_beat(env: FaultEnv, down_seconds: float = 15.0) -> dict[str, Any]:
    """kill -9 of beat, then of a busy item worker while beat is down (its items need the
    sweeper), beat started again later."""
    assert env.beat is not None
    os.killpg(env.beat.proc.pid, signal.SIGKILL)
    env.beat.proc.wait(timeout=30)
    env.beat.stop()
    killed = kill_worker(env)
    time.sleep(down_seconds)
    env.start_beat()
    return killed


def kill_api(env: FaultEnv) -> dict[str, Any]:
    """kill -9 of the API (master and workers) while clients are creating batches; a new API
    on the same address; every client retries what failed with its Idempotency-Key."""
    server = env.stack.server
    assert server is not None
    item = _any_item(env)
    outcomes: dict[str, int | str] = {}
    stop = threading.Event()

    def create(key: str) -> int | str:
        try:
            return requests.post(
                f"{env.stack.url}/api/v1/beta/batch-processing", timeout=30,
                headers=env.stack.headers() | {"Idempotency-Key": key},
                json={"job_config": {"parameters": {"invalidate_cache": True}},
                      "item_ids": [item]}).status_code
        except requests.RequestException as exc:
            return type(exc).__name__

    def client() -> None:
        while not stop.is_set():
            key = f"k-{uuid.uuid4().hex}"
            outcomes[key] = create(key)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    env.stack.server = server.restarted()
    interrupted = [key for key, status in outcomes.items() if status != 200]
    retried = {key: create(key) for key in interrupted}
    jobs = [row.job_id for row in query(env.stack, "select job_id from idempotency_keys "
                                                   "where key = any(:k)", k=list(outcomes))]
    return {"requests": len(outcomes), "interrupted": len(interrupted),
            "retried": retried, "keys": len(outcomes), "created_jobs": jobs}


FAULTS: dict[str, Callable[[FaultEnv], dict[str, Any]]] = {
    "kill -9 worker": kill_worker,
    "kill -9 pool child": kill_pool_child,
    "rolling restart": rolling_restart,
    "redis restart": restart_redis,
    "postgres restart": restart_postgres,
    "beat restart": restart_beat,
    "kill -9 api": kill_api,
}
# RabbitMQ runs on the machine, shared by other tests: it is not restarted here.
BROKER_FAULTS = {"redis": tuple(FAULTS), "rabbitmq": ("kill -9 worker", "kill -9 pool child",
                                                      "rolling restart")}
