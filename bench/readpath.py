"""Read path under load: status, list and job items with 100,000 items in the database,
each as a multiple of the floor measured in the same load: `/healthz` (the app, no database)
and a file by id (the key check and one primary-key SELECT through the same app).

A running job of N items (a counted prefix, two pages in flight, the rest pending) and a few
hundred finished jobs are written as rows (setup, not timed); the API runs under gunicorn
(2 workers x 8 threads); a second process sends an open-loop mix of requests at a fixed rate
over keep-alive connections and reports latency percentiles per endpoint.
Usage: .venv/bin/python bench/readpath.py [--items 100000] [--rate 100] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Deployment,
    deployment,
    emit,
    machine,
    percentile,
    table,
)

ENDPOINTS = ("status", "list", "items", "items_by_status")
FLOORS = ("healthz", "file_by_id")
ALL = ENDPOINTS + FLOORS
FINISHED_JOBS = 300
PAGE = 100


def seed(dep: Deployment, items: int) -> dict[str, Any]:
    """One running job with ``items`` items, and finished jobs for the list: rows via COPY."""
    from batchsvc.db import get_engine
    from batchsvc.models import BatchJob, Directory, StoredFile, new_id, utcnow
    from batchsvc.services.batches import new_job
    from batchsvc.uow import unit_of_work

    with unit_of_work() as session:
        directory = Directory(project_id=dep.project_id, name="readpath")
        session.add(directory)
        session.flush()
        for _ in range(FINISHED_JOBS):
            done = new_job(session, dep.project_id, "parse", {"parameters": {}},
                           directory_id=directory.id)
            done.status, done.completed_at = "completed", utcnow()
        job = new_job(session, dep.project_id, "parse", {"parameters": {}},
                      directory_id=directory.id)
        job_id = job.id
        stored = StoredFile(project_id=dep.project_id, name="floor.txt", size=1, sha256="0" * 64,
                            storage_key="floor", content_type="txt")
        session.add(stored)
        session.flush()
        file_id = stored.id
    settled = items * 6 // 10  # completed and counted
    window = 2 * PAGE  # published, in flight
    now = utcnow()
    raw = get_engine().raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        with conn.cursor() as cur, cur.copy(
                "COPY job_items (job_id, project_id, position, item_id, file_id, item_name, "
                "status, attempts, result_job_id, result_id, started_at, completed_at, "
                "updated_at) FROM STDIN") as copy:
            for pos in range(items):
                open_ = pos >= settled and (pos >= settled + window or pos % 3 == 0)
                status = ("pending" if pos >= settled + window else "processing") if open_ \
                    else "completed"
                copy.write_row((job_id, dep.project_id, pos, new_id(), new_id(),
                                f"doc-{pos:06d}.txt", status, 0 if status == "pending" else 1,
                                new_id(), None if open_ else new_id("res-"),
                                None if status == "pending" else now,
                                None if open_ else now, now))
        # The count marks page callbacks leave as the counted prefix moves, a page at a time.
        with conn.cursor() as cur, cur.copy(
                "COPY job_count_marks (job_id, position, completed, failed, skipped, "
                "cancelled) FROM STDIN") as copy:
            for end in range(PAGE, settled + 1, PAGE):
                copy.write_row((job_id, end, end, 0, 0, 0))
        conn.commit()
    finally:
        raw.close()
    with unit_of_work() as session:
        running = session.get(BatchJob, job_id)
        assert running is not None
        running.status, running.started_at = "running", now
        running.total_items = running.materialized_items = items
        running.pages_published = (settled + window) // PAGE
        running.page_size, running.counted_position = PAGE, settled
        running.processed_items = settled
    with get_engine().connect() as conn:
        # What autovacuum does to a table after a bulk insert: statistics and visibility map.
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM ANALYZE job_items")
    return {"job_id": job_id, "file_id": file_id, "items": items, "completed": settled}


def generate(config: dict[str, Any]) -> dict[str, list[float]]:
    """The load: requests at a fixed rate, spread over threads with keep-alive connections."""
    host, port = config["host"], config["port"]
    headers = {"Authorization": f"Bearer {config['key']}"}
    base, job = "/api/v1/beta/batch-processing", config["job_id"]
    total = int(config["rate"] * config["seconds"])
    latencies: dict[str, list[float]] = {name: [] for name in ALL}
    errors: list[str] = []
    lock, counter, start = threading.Lock(), iter(range(total)), time.perf_counter() + 0.5
    rng = random.Random(7)

    def path(i: int) -> tuple[str, str]:
        name = ALL[i % len(ALL)]
        if name == "healthz":
            return name, "/healthz"
        if name == "file_by_id":
            return name, f"/api/v1/beta/files/{config['file_id']}"
        if name == "status":
            return name, f"{base}/{job}"
        if name == "list":
            return name, f"{base}?limit=20&offset={rng.randrange(0, FINISHED_JOBS - 20)}"
        if name == "items":
            return name, f"{base}/{job}/items?limit=50&offset={rng.randrange(config['items'])}"
        offset = rng.randrange(config["completed"] - 50)
        return name, f"{base}/{job}/items?limit=50&status=completed&offset={offset}"

    def run() -> None:
        conn = HTTPConnection(host, port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
                if i is None:
                    return
                name, url = path(i)
            delay = start + i / config["rate"] - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            began = time.perf_counter()
            conn.request("GET", url, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = (time.perf_counter() - began) * 1000
            if response.status != 200:
                errors.append(f"{url}: {response.status}")
            latencies[name].append(elapsed)

    threads = [threading.Thread(target=run) for _ in range(config["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {**latencies, "errors": errors,  # type: ignore[dict-item]
            "wall": [time.perf_counter() - start]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=100.0, help="requests per second")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=8, help="load generator connections")
    ap.add_argument("--full", action="store_true", help="also a run at 4x the rate")
    ap.add_argument("--generate", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        print(json.dumps(generate(json.loads(args.generate))))
        return
    rates = [args.rate, args.rate * 4] if args.full else [args.rate]
    results: list[dict[str, Any]] = []
    with deployment() as dep:
        data = seed(dep, args.items)
        server = dep.start_api(workers=2)
        host, port = server.url.split("//")[1].split(":")
        for rate in rates:
            config = {"host": host, "port": int(port), "key": dep.key, "rate": rate,
                      "seconds": args.seconds, "threads": args.threads, **data}
            warm = {**config, "rate": 50.0, "seconds": 2.0}
            subprocess.run([sys.executable, __file__, "--generate", json.dumps(warm)],
                           check=True, capture_output=True)
            out = subprocess.run([sys.executable, __file__, "--generate", json.dumps(config)],
                                 check=True, capture_output=True, text=True).stdout
            results.append({"rate": rate, **json.loads(out)})
    state = machine()
    rows, summary, by_rate = [], {}, {}
    for res in results:
        floor = {q: percentile(res["healthz"], q) for q in (50, 99)}
        for name in ALL:
            values = res[name]
            p50, p99 = round(percentile(values, 50), 2), round(percentile(values, 99), 2)
            x50, x99 = round(p50 / floor[50], 2), round(p99 / floor[99], 2)
            rows.append((res["rate"], name, len(values), p50, p99, round(max(values), 1),
                         x50, x99))
            by_rate.setdefault(str(res["rate"]), {})[name] = [p50, p99]
            if res["rate"] == args.rate:
                summary[f"{name}_p50_ms"], summary[f"{name}_p99_ms"] = p50, p99
                summary[f"{name}_p99_over_floor"] = x99
    print(table(("req/s", "endpoint", "requests", "p50 ms", "p99 ms", "max ms",
                 "p50 / floor", "p99 / floor"), rows))
    print("floor: /healthz in the same load (the app and its server, no database)")
    every = [v for name in ENDPOINTS for v in results[0][name]]
    errors = sum(len(res["errors"]) for res in results)
    print(f"\n{args.items:,} items; errors {errors}; load {state['load_1m']}/{state['load_5m']}/"
          f"{state['load_15m']}")
    emit({"bench": "readpath", "items": args.items, "rate": args.rate,
          "seconds": args.seconds, "errors": errors,
          "status_p50_ms": summary["status_p50_ms"], "status_p99_ms": summary["status_p99_ms"],
          "status_p99_over_floor": summary["status_p99_over_floor"],
          "worst_p99_over_floor": max(summary[f"{n}_p99_over_floor"] for n in ENDPOINTS),
          "all_p50_ms": round(percentile(every, 50), 2),
          "all_p99_ms": round(percentile(every, 99), 2), "p50_p99_ms_by_rate": by_rate,
          **summary, **state})


if __name__ == "__main__":
    main()
