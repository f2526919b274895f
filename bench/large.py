"""Large batches in bounded memory: one directory batch of N tiny files end to end.

Reports creation latency (directory batch, and an ``item_ids`` batch of 10,000 ids), items/s,
peak RSS of the API and of every worker process, Redis growth (peak and after), pages in
flight and how busy the item workers were (item queue never empty, pool CPU share).
Usage: .venv/bin/python bench/large.py [--n 10000] [--workers 2] [--full]  (--full: 100,000)
       [--storage db|s3 [--import-only]]  (s3: the same batch over an S3 prefix, or only
       its import; bench/large_s3.py)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Deployment,
    Probe,
    Sampler,
    bulk_directory,
    cpu_by_role,
    cpu_delta,
    create_batch,
    deployment,
    emit,
    http_json,
    machine,
    percentile,
    redis_client,
    redis_queue_depth,
    redis_used_mb,
    starved_share,
    table,
    wait_job,
)

ID_BATCH = 10_000


def in_flight(job_id: str) -> float:
    """Pages published whose items are not all counted yet (the counted prefix)."""
    from batchsvc.models import BatchJob
    from batchsvc.uow import unit_of_work

    with unit_of_work() as session:
        job = session.get(BatchJob, job_id)
        assert job is not None
        return job.pages_published - (job.counted_position or 0) // job.page_size


def id_batch_seconds(dep: Deployment) -> float:
    """Create (then cancel) a batch naming 10,000 directory files by id; seconds to create."""
    from batchsvc.models import DirectoryFile
    from batchsvc.uow import unit_of_work

    directory_id = bulk_directory(dep, ID_BATCH, "ids")
    with unit_of_work() as session:
        ids = list(session.scalars(DirectoryFile.__table__.select()
                                   .with_only_columns(DirectoryFile.__table__.c.id)
                                   .where(DirectoryFile.__table__.c.directory_id == directory_id)))
    job_id, seconds = create_batch(dep, {"item_ids": ids, "job_config": {"parameters": {}}})
    status, body, _ = http_json("POST", f"{dep.url}/api/v1/beta/batch-processing/{job_id}/cancel",
                                dep.headers(), {"reason": "benchmark: creation only"})
    if status != 200:
        raise RuntimeError(f"cancel answered {status}: {body}")
    wait_job(job_id, 300)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2, help="item worker processes")
    ap.add_argument("--full", action="store_true", help="N = 100,000")
    ap.add_argument("--storage", choices=("db", "s3"), default="db",
                    help="db: files in Postgres (db://); s3: an S3 prefix imported by reference")
    ap.add_argument("--import-only", action="store_true",
                    help="with --storage s3: only import the prefix (no parsing)")
    args = ap.parse_args()
    n = 100_000 if args.full else args.n
    if args.storage == "s3":
        import large_s3

        large_s3.run(n, args.workers, args.import_only)
        return
    with deployment() as dep:
        dep.start_api()
        items = dep.start_worker(queues=("parse", "classify"), concurrency=args.workers)
        dep.start_worker(queues=("control", "webhooks"), concurrency=1)
        dep.start_beat()
        small = bulk_directory(dep, 10, "small")
        http_json("GET", f"{dep.url}/api/v1/beta/batch-processing", dep.headers())  # warm API
        directory_id = bulk_directory(dep, n, "large")
        warm, small_s = create_batch(dep, {"directory_id": small,
                                           "job_config": {"parameters": {}}})
        wait_job(warm, 120)
        id_seconds = id_batch_seconds(dep)
        redis = redis_client(dep.redis_url)
        redis_before = redis_used_mb(redis)
        sampler = Sampler({"api": lambda: [dep.api.proc.pid] if dep.api else [],
                           "worker": lambda: [w.pid for w in dep.workers]},
                          {"redis_mb": lambda: redis_used_mb(redis)}, interval=0.5)
        sampler.start()
        cpu_before = cpu_by_role(dep)
        started = time.time()
        job_id, create_s = create_batch(dep, {"directory_id": directory_id,
                                              "job_config": {"parameters": {}}})
        queue = Probe(lambda: redis_queue_depth(redis, f"{dep.settings.namespace}parse"))
        pages = Probe(lambda: in_flight(job_id), interval=0.5)
        polls: list[float] = []

        def poll() -> None:
            _, _, seconds = http_json("GET", f"{dep.url}/api/v1/beta/batch-processing/{job_id}",
                                      dep.headers())
            polls.append(seconds * 1000)

        queue.start()
        pages.start()
        row = wait_job(job_id, max(600.0, n / 20), on_tick=poll, interval=1.0)
        lengths, flight = queue.stop(), pages.stop()
        wall = row["completed_at"].timestamp() - started
        spent = cpu_delta(cpu_before, cpu_by_role(dep))
        sampler.stop()
        workers = list(dep.workers)
        redis_peak = max(sampler.samples["redis_mb"] or [redis_before]) - redis_before
        redis_after = redis_used_mb(redis) - redis_before
        pool_share = spent.get(f"{items.label} pool", 0.0) / (wall * args.workers)
        accounted = row["processed_items"] + row["failed_items"] + row["skipped_items"] \
            + row["cancelled_items"]
    state = machine()
    result = {
        "bench": "large", "n": n, "workers": args.workers, "status": row["status"],
        "items_accounted": accounted, "seconds": round(wall, 1),
        "items_per_s": round(n / wall, 1),
        "create_ms": round(create_s * 1000, 1), "create_small_ms": round(small_s * 1000, 1),
        "item_ids_create_s": round(id_seconds, 2),
        "api_peak_rss_mb": round(sampler.peak_rss["api"], 1),
        "worker_peak_rss_mb": round(sampler.peak_rss["worker"], 1),
        "worker_peaks_mb": sampler.worker_peaks(workers),
        "redis_growth_mb": round(redis_peak, 1), "redis_after_mb": round(redis_after, 1),
        "pages_in_flight_median": statistics.median(flight) if flight else 0,
        "pages_in_flight_max": max(flight) if flight else 0,
        "item_queue_empty_share": round(starved_share(lengths), 3),
        "item_pool_cpu_share": round(pool_share, 3),
        "status_poll_p50_ms": round(percentile(polls, 50), 1),
        "status_poll_p99_ms": round(percentile(polls, 99), 1),
        **state,
    }
    print(table(("measure", "value"), [
        ("items (all accounted for)", f"{n:,} ({accounted:,}, {row['status']})"),
        ("wall seconds / items per s", f"{result['seconds']} / {result['items_per_s']}"),
        ("create: directory of N / of 10 (ms)",
         f"{result['create_ms']} / {result['create_small_ms']}"),
        (f"create: item_ids x {ID_BATCH:,} (s)", result["item_ids_create_s"]),
        ("peak RSS API / any worker process (MB)",
         f"{result['api_peak_rss_mb']} / {result['worker_peak_rss_mb']}"),
        ("peak RSS by worker process (MB)",
         ", ".join(f"{k} {v}" for k, v in result["worker_peaks_mb"].items())),
        ("Redis growth peak / after (MB)", f"{result['redis_growth_mb']} / "
                                           f"{result['redis_after_mb']}"),
        ("pages in flight median / max",
         f"{result['pages_in_flight_median']} / {result['pages_in_flight_max']}"),
        ("item queue empty (share of samples)", result["item_queue_empty_share"]),
        ("item pool CPU busy share", result["item_pool_cpu_share"]),
        ("GET status while running p50 / p99 (ms)",
         f"{result['status_poll_p50_ms']} / {result['status_poll_p99_ms']}"),
        ("load average 1/5/15", f"{state['load_1m']}/{state['load_5m']}/{state['load_15m']}"),
    ]))
    emit(result)


if __name__ == "__main__":
    main()
