"""Orchestration efficiency: N tiny .txt items through the whole API versus a raw Celery chord
of N trivial tasks, on the same broker, backend and worker settings, alternating in one run.

batchsvc: POST a directory batch, time until the job row says completed (its completed_at).
raw: publish ``chord(noop(i) for i in range(N))(collect)``, time until the body ran.
Both run W pool processes on their item queue, plus one publisher: the bench process for the
raw chord, a control worker (dispatch and page callbacks, concurrency 1) for batchsvc, the
split ``batchsvc worker -Q`` allows and the tests use.
Usage: .venv/bin/python bench/orchestration.py [--n 10000] [--workers 2] [--rounds 2]
       [--full] [--profile out.svg]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
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
    machine,
    make_raw_app,
    process_tree,
    raw_chord,
    redis_client,
    redis_queue_depth,
    redis_used_mb,
    starved_share,
    table,
    wait_job,
)


def run_batch(dep: Deployment, directory_id: str, n: int, timeout: float) -> dict[str, float]:
    started = time.time()
    job_id, create_s = create_batch(dep, {"directory_id": directory_id,
                                          "job_config": {"parameters": {}}})
    row = wait_job(job_id, timeout)
    if row["processed_items"] != n or row["status"] != "completed":
        raise RuntimeError(f"batch {job_id} ended {row}")
    return {"seconds": row["completed_at"].timestamp() - started, "create_ms": create_s * 1000}


FORMATS = {".svg": "flamegraph", ".json": "speedscope"}  # anything else: collapsed stacks


def profile(dep: Deployment, out: str, seconds: float,
            target: str) -> subprocess.Popen[bytes]:
    """py-spy record of the item worker's main process or one pool child during a batch."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        raise SystemExit("--profile needs py-spy in the virtualenv: .venv/bin/pip install py-spy")
    worker = dep.workers[0]  # the item worker
    child = worker.pid if target == "main" else \
        [pid for pid in process_tree(worker.pid) if pid != worker.pid][0]
    return subprocess.Popen([str(spy), "record", "-p",
                             str(child), "-d", str(int(seconds)), "-o", out, "-r", "200",
                             "-f", FORMATS.get(Path(out).suffix, "raw")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2, help="worker processes (concurrency)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--profile-target", choices=("pool", "main"), default="pool")
    ap.add_argument("--pages-in-flight", type=int, help="override BATCHSVC_PAGES_IN_FLIGHT")
    ap.add_argument("--page-size", type=int, help="override BATCHSVC_DEFAULT_PAGE_SIZE")
    ap.add_argument("--full", action="store_true", help="3 rounds of N = 10,000")
    ap.add_argument("--layout", choices=("split", "readme"), default="split",
                    help="split: item and control workers of --workers processes; readme: "
                    "two `batchsvc worker`s on every queue at default concurrency (README's "
                    "cluster), raw Celery the same and paged like batchsvc")
    ap.add_argument("--profile", help="py-spy output for round 1 (.svg, .json, else collapsed)")
    args = ap.parse_args()
    if args.full:
        args.rounds, args.n = max(args.rounds, 3), max(args.n, 10_000)
    timeout = max(300.0, args.n / 20)
    rows, batch_rates, raw_rates, ratios, starved = [], [], [], [], []
    cpu: dict[str, dict[str, float]] = {}
    overrides = {k: v for k, v in (("pages_in_flight", args.pages_in_flight),
                                   ("default_page_size", args.page_size)) if v}
    with deployment(**overrides) as dep:
        dep.start_api()
        raw_page = None
        if args.layout == "readme":
            for _ in range(2):
                dep.start_worker(concurrency=None)
            dep.start_beat()
            for _ in range(2):
                dep.start_worker(app="bench.common:raw_app", queues=("raw",), concurrency=None)
            raw_page = dep.settings.default_page_size
        else:
            dep.start_worker(queues=("parse", "classify"), concurrency=args.workers)
            dep.start_worker(queues=("control", "webhooks"), concurrency=1)
            dep.start_beat()
            dep.start_worker(app="bench.common:raw_app", queues=("raw",),
                             concurrency=args.workers)
        raw = make_raw_app(dep.settings)
        redis = redis_client(dep.redis_url)
        directories = [bulk_directory(dep, args.n, f"orch{r}") for r in range(args.rounds)]
        warm = bulk_directory(dep, 50, "warm")
        run_batch(dep, warm, 50, 120)  # imports, connections, prepared statements
        raw_chord(raw, 50, 120)
        redis_before = redis_used_mb(redis)
        sampler = Sampler({"api": lambda: [dep.api.proc.pid] if dep.api else [],
                           "worker": lambda: [w.pid for w in dep.workers]},
                          {"redis_mb": lambda: redis_used_mb(redis)})
        sampler.start()
        for r in range(args.rounds):
            order = ("raw", "batchsvc") if r % 2 == 0 else ("batchsvc", "raw")
            round_rate = {}
            for system in order:
                spy = None
                if system == "batchsvc" and args.profile and r == 0:
                    spy = profile(dep, args.profile, args.n / 150, args.profile_target)
                cpu_before = cpu_by_role(dep)
                if system == "raw":
                    res = raw_chord(raw, args.n, timeout, raw_page)
                    extra = f"publish {res['publish_s']:.1f} s"
                else:
                    parse_queue = f"{dep.settings.namespace}parse"
                    queue = Probe(functools.partial(redis_queue_depth, redis, parse_queue))
                    queue.start()
                    res = run_batch(dep, directories[r], args.n, timeout)
                    starved.append(starved_share(queue.stop()))
                    extra = f"create {res['create_ms']:.0f} ms, queue empty {starved[-1]:.0%}"
                cpu[system] = cpu_delta(cpu_before, cpu_by_role(dep))
                if spy is not None:
                    spy.wait()
                rate = args.n / res["seconds"]
                round_rate[system] = rate
                rows.append((r + 1, system, args.n, round(res["seconds"], 1), round(rate, 1),
                             extra))
            batch_rates.append(round_rate["batchsvc"])
            raw_rates.append(round_rate["raw"])
            ratios.append(round_rate["batchsvc"] / round_rate["raw"])
        sampler.stop()
        redis_peak = max(sampler.samples["redis_mb"] or [redis_before]) - redis_before
        redis_after = redis_used_mb(redis) - redis_before
    state = machine()
    print(table(("round", "system", "items", "seconds", "items/s", "note"), rows))
    roles = sorted(set(cpu["raw"]) | set(cpu["batchsvc"]))
    print("\nCPU ms per item by process role (last round of each):")
    print(table(("role", "raw", "batchsvc"), [
        (role, round(1000 * cpu["raw"].get(role, 0) / args.n, 3),
         round(1000 * cpu["batchsvc"].get(role, 0) / args.n, 3)) for role in roles]))
    result = {
        "bench": "orchestration", "n": args.n, "layout": args.layout,
        "workers": args.workers if args.layout == "split" else "2 x default",
        "rounds": args.rounds,
        "items_per_s": round(statistics.median(batch_rates), 1),
        "raw_celery_items_per_s": round(statistics.median(raw_rates), 1),
        "orchestration_ratio": round(statistics.median(ratios), 3),
        "ratios": [round(x, 3) for x in ratios],
        "item_queue_empty_share": round(statistics.median(starved), 3),
        "cpu_ms_per_item": {system: {role: round(1000 * sec / args.n, 3)
                                     for role, sec in spent.items()}
                            for system, spent in cpu.items()},
        "worker_peak_rss_mb": round(sampler.peak_rss["worker"], 1),
        "api_peak_rss_mb": round(sampler.peak_rss["api"], 1),
        "redis_peak_growth_mb": round(redis_peak, 1),
        "redis_residual_growth_mb": round(redis_after, 1),
        **state,
    }
    print(f"\nratio (median of rounds) {result['orchestration_ratio']}  "
          f"load {state['load_1m']}/{state['load_5m']}/{state['load_15m']}")
    emit(result)


if __name__ == "__main__":
    main()
