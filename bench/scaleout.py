"""Scale-out: one directory batch of N tiny files with 1, 2 and 4 worker processes, as one
worker on every queue or as separate workers for items and for control (dispatch, page
callbacks), the shape a fleet takes. On one 2-core machine this shows the overhead of more
processes, not the gain of more machines (README, "Scaling").
Usage: .venv/bin/python bench/scaleout.py [--n 3000] [--full]  (--full: N = 10,000)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ALL_QUEUES,
    Deployment,
    bulk_directory,
    cpu_by_role,
    cpu_delta,
    create_batch,
    deployment,
    emit,
    machine,
    table,
    wait_job,
)

ITEMS, CONTROL = ("parse", "classify"), ("control", "webhooks")
# (label, [(queues, processes), ...]): every layout has all four queues consumed.
LAYOUTS = [
    ("1 worker x 1, all queues", [(ALL_QUEUES, 1)]),
    ("1 worker x 2, all queues", [(ALL_QUEUES, 2)]),
    ("items x 1 + control x 1", [(ITEMS, 1), (CONTROL, 1)]),
    ("items x 3 + control x 1", [(ITEMS, 3), (CONTROL, 1)]),
    ("items x 2 + items x 1 + control x 1", [(ITEMS, 2), (ITEMS, 1), (CONTROL, 1)]),
]


def run(dep: Deployment, layout: list[tuple[tuple[str, ...], int]], n: int,
        label: str) -> dict[str, float]:
    for queues, processes in layout:
        dep.start_worker(queues=queues, concurrency=processes)
    try:
        warm = bulk_directory(dep, 20, f"warm-{label}")
        wait_job(create_batch(dep, {"directory_id": warm,
                                    "job_config": {"parameters": {}}})[0], 120)
        directory_id = bulk_directory(dep, n, label)
        before = cpu_by_role(dep)
        started = time.time()
        job_id, _ = create_batch(dep, {"directory_id": directory_id,
                                       "job_config": {"parameters": {}}})
        row = wait_job(job_id, max(300.0, n / 10))
        wall = row["completed_at"].timestamp() - started
        spent = cpu_delta(before, cpu_by_role(dep))
        if row["processed_items"] != n:
            raise RuntimeError(f"{label}: {row}")
        workers_cpu = sum(v for role, v in spent.items() if role.endswith(("main", "pool")))
        return {"seconds": wall, "items_per_s": n / wall,
                "worker_cpu_ms_per_item": 1000 * workers_cpu / n,
                "postgres_cpu_ms_per_item": 1000 * spent.get("postgres", 0.0) / n}
    finally:
        for worker in list(dep.workers):
            dep.stop_worker(worker)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--full", action="store_true", help="N = 10,000")
    args = ap.parse_args()
    n = 10_000 if args.full else args.n
    rows, out = [], []
    with deployment() as dep:
        dep.start_api()
        dep.start_beat()
        for index, (label, layout) in enumerate(LAYOUTS):
            res = run(dep, layout, n, f"scale{index}")
            processes = sum(p for _, p in layout)
            rows.append((label, processes, round(res["seconds"], 1), round(res["items_per_s"], 1),
                         round(res["items_per_s"] / processes, 1),
                         round(res["worker_cpu_ms_per_item"], 2),
                         round(res["postgres_cpu_ms_per_item"], 2)))
            out.append({"layout": label, "processes": processes,
                        **{k: round(v, 2) for k, v in res.items()}})
    state = machine()
    print(table(("layout", "processes", "seconds", "items/s", "items/s per process",
                 "worker CPU ms/item", "Postgres CPU ms/item"), rows))
    print(f"\n{n:,} items per run on {state['cores']} cores; load {state['load_1m']}/"
          f"{state['load_5m']}/{state['load_15m']}")
    emit({"bench": "scaleout", "n": n, "layouts": out, **state})


if __name__ == "__main__":
    main()
