"""Fault bench: N runs of each fault mid-batch; how many batches ended with every item
accounted for (terminal, counts add up, at most one lineage record per item).

    python bench/faults.py [--runs 3] [--fault "redis restart"] [--no-write]

Runs on a private PostgreSQL cluster and a private Redis (see tests/faults/scenarios.py),
so stopping them harms nothing else. Prints a table and a final ``BENCH {json}`` line and
writes the table to bench/RESULTS.md under ``## Faults``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the script runs as ``python bench/faults.py``
    sys.path.insert(0, str(REPO))

from tests.faults.scenarios import FAULTS, Outcome, fault_env, run_fault  # noqa: E402

RESULTS = REPO / "bench" / "RESULTS.md"
HEADER = ("| fault | runs | batches | accounted for | items | completed | failed | "
          "duplicate lineage | slowest finish s |")


def summarise(fault: str, runs: int, outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "fault": fault, "runs": runs, "batches": len(outcomes),
        "accounted": sum(o.accounted for o in outcomes),
        "items": sum(o.total for o in outcomes),
        "completed": sum(o.counts.get("completed", 0) for o in outcomes),
        "failed": sum(o.counts.get("failed", 0) for o in outcomes),
        "duplicate_lineage": sum(o.duplicate_lineage for o in outcomes),
        "slowest_s": max((o.seconds for o in outcomes), default=0.0),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [HEADER, "|---" * 9 + "|"]
    for r in rows:
        lines.append(f"| {r['fault']} | {r['runs']} | {r['batches']} | "
                     f"{r['accounted']}/{r['batches']} | {r['items']} | {r['completed']} | "
                     f"{r['failed']} | {r['duplicate_lineage']} | {r['slowest_s']} |")
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace (or append) the ``## Faults`` section, leaving every other section alone."""
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    start = current.find("\n## Faults\n")
    if start < 0:
        RESULTS.write_text(current.rstrip("\n") + "\n\n" + text)
        return
    end = current.find("\n## ", start + 1)
    rest = current[end:] if end >= 0 else "\n"
    RESULTS.write_text(current[:start] + "\n" + text.rstrip("\n") + "\n" + rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs of each fault")
    parser.add_argument("--fault", action="append", choices=sorted(FAULTS),
                        help="only this fault (repeatable); default: all")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    faults = args.fault or list(FAULTS)
    rows = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp, \
            fault_env(Path(tmp)) as env:
        for fault in faults:
            outcomes: list[Outcome] = []
            for run in range(args.runs):
                results = run_fault(env, fault)
                outcomes += results
                for o in results:
                    print(f"{fault} #{run + 1}: {o.job_id} {o.status} {o.counts} "
                          f"dup={o.duplicate_lineage} {o.seconds}s "
                          f"{'ok' if o.accounted else 'NOT ACCOUNTED'}", flush=True)
            rows.append(summarise(fault, args.runs, outcomes))
    rendered = table(rows)
    print(rendered)
    note = (f"`bench/faults.py --runs {args.runs}`: each run starts a batch of 18 tiny text "
            "files and 2 scanned PDFs (OCR keeps an item in flight), injects the fault while "
            "a scan is being processed, and waits up to 150 s. Private PostgreSQL cluster "
            "and private Redis (no persistence: a restart loses every queued message and "
            "chord counter); item lease 15 s, sweep every 1 s; a control worker with the "
            "sweeper and an item worker (prefork, 2 children). 'redis restart' also creates "
            "a second batch while Redis is down, so it counts two batches per run. "
            f"Total wall time {round(time.time() - started)} s on 2 shared cores.")
    if not args.no_write:
        write_section(f"## Faults\n\n{note}\n\n{rendered}\n")
    print("BENCH " + json.dumps({"faults": rows, "runs": args.runs}))
    return 0 if all(r["accounted"] == r["batches"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
