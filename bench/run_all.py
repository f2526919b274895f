"""``make bench``: every benchmark at its default size, one after another, each in its own
process; their output is shown as it comes, their closing ``BENCH`` lines are collected, the
"Orchestration and scale" section of bench/RESULTS.md is rewritten from this run, and one
``BENCH`` line sums it all up.
Usage: .venv/bin/python bench/run_all.py [--full] [--only orchestration,large,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
SECTION = "## Orchestration and scale"
INTRO = ("Written by `bench/run_all.py` from its own run: Postgres + Redis on this machine, "
         "every process started by the benchmark; `make bench` rewrites the default-size "
         "block, `bench/run_all.py --full` the large-size one. Other sessions shared the "
         "machine: each benchmark gives the load average (1/5/15 min) at its end.")
MODES = {False: "### Default sizes (`make bench`)", True: "### Large sizes (`--full`)"}
# Ours take --full for their large sizes; the engine benchmarks have one size. The engine
# benchmarks go first: they count CPU seconds per page or document, which rise when the other
# core is busy (a run right after scaleout measured the parser at 169 pages/CPU-s, and at 259
# alone a minute later, with the machine otherwise idle).
SCRIPTS = {"parse": False, "layout": False, "classify": False, "orchestration": True,
           "large": True, "readpath": True, "scaleout": True}


def run(name: str, full: bool) -> dict[str, Any] | None:
    argv = [sys.executable, str(BENCH / f"{name}.py")] + (["--full"] if full else [])
    print(f"\n=== {name}: {' '.join(argv[1:])}", flush=True)
    started, last = time.time(), None
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=BENCH.parent) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            if line.startswith("BENCH "):
                last = line
    print(f"=== {name}: exit {proc.returncode} after {time.time() - started:.0f} s", flush=True)
    if proc.returncode != 0 or last is None:
        return None
    return json.loads(last[len("BENCH "):])


def pick(results: dict[str, dict[str, Any] | None], name: str, key: str) -> Any:
    found = results.get(name)
    return None if found is None else found.get(key)


def section(results: dict[str, dict[str, Any] | None], full: bool) -> str:
    """Our RESULTS.md section, every figure from this run."""
    o, lg, rp, so = (results.get(k) or {} for k in ("orchestration", "large", "readpath",
                                                    "scaleout"))
    lines = [MODES[full], "", f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"{o.get('cores') or lg.get('cores')} cores.", ""]
    if o:
        lines += [
            f"**Orchestration** (`orchestration.py`, N = {o['n']:,} tiny .txt items, "
            f"{o['workers']} item processes, {o['rounds']} alternating rounds): batchsvc "
            f"{o['items_per_s']} items/s end to end through the API vs a raw Celery chord "
            f"{o['raw_celery_items_per_s']} items/s; ratio **{o['orchestration_ratio']}** "
            f"(rounds {o['ratios']}); item queue empty in {o['item_queue_empty_share']:.1%} "
            f"of samples; load {o['load_1m']}/{o['load_5m']}/{o['load_15m']}.", "",
            "CPU ms per item by process role (last round of each system):", "",
            "| role | raw Celery | batchsvc |", "|---|---|---|"]
        cpu = o["cpu_ms_per_item"]
        for role in sorted(set(cpu["raw"]) | set(cpu["batchsvc"])):
            raw, ours = cpu["raw"].get(role, 0), cpu["batchsvc"].get(role, 0)
            if raw or ours:
                lines.append(f"| {role} | {raw} | {ours} |")
        lines.append("")
    if lg:
        lines += [
            f"**Large batch** (`large.py`, one directory batch of {lg['n']:,} files, "
            f"{lg['workers']} item processes + 1 control): {lg['status']}, "
            f"{lg['items_accounted']:,} items accounted for, {lg['items_per_s']} items/s; "
            f"creation {lg['create_ms']} ms (10-file directory: {lg['create_small_ms']} ms); "
            f"`item_ids` x 10,000 created in {lg['item_ids_create_s']} s; peak RSS API "
            f"{lg['api_peak_rss_mb']} MB, any worker process {lg['worker_peak_rss_mb']} MB ("
            + ", ".join(f"{k} {v}" for k, v in lg.get("worker_peaks_mb", {}).items())
            + "); "
            f"Redis growth {lg['redis_growth_mb']} MB peak, {lg['redis_after_mb']} MB after; "
            f"pages in flight median {lg['pages_in_flight_median']}, max "
            f"{lg['pages_in_flight_max']}; item queue empty in "
            f"{lg['item_queue_empty_share']:.1%} of samples; item pool CPU busy "
            f"{lg['item_pool_cpu_share']:.0%}; GET status while running p50/p99 "
            f"{lg['status_poll_p50_ms']}/{lg['status_poll_p99_ms']} ms; load "
            f"{lg['load_1m']}/{lg['load_5m']}/{lg['load_15m']}.", ""]
    if rp:
        lines += [
            f"**Read path** (`readpath.py`, {rp['items']:,} items, gunicorn 2 x 8 threads, "
            f"open loop from a second process for {rp['seconds']:.0f} s per rate, "
            f"{rp['errors']} errors; load {rp['load_1m']}/{rp['load_5m']}/{rp['load_15m']}):",
            "", "| req/s | endpoint | p50 ms | p99 ms |", "|---|---|---|---|"]
        for rate, endpoints in rp["p50_p99_ms_by_rate"].items():
            for name, (p50, p99) in endpoints.items():
                lines.append(f"| {float(rate):.0f} | {name} | {p50} | {p99} |")
        lines.append("")
    if so:
        lines += [f"**Scale-out** (`scaleout.py`, {so['n']:,} items per run; load "
                  f"{so['load_1m']}/{so['load_5m']}/{so['load_15m']}):", "",
                  "| layout | processes | items/s | worker CPU ms/item | Postgres CPU ms/item |",
                  "|---|---|---|---|---|"]
        for row in so["layouts"]:
            lines.append(f"| {row['layout']} | {row['processes']} | {row['items_per_s']} | "
                         f"{row['worker_cpu_ms_per_item']} | {row['postgres_cpu_ms_per_item']} |")
        lines.append("")
    return "\n".join(lines)


def write_section(text: str, full: bool) -> None:
    """Replace this mode's block of our section in RESULTS.md, keeping the other mode's block
    and the other engineers' sections as they are."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    start = old.find(SECTION)
    end = old.find("\n## ", start + len(SECTION)) if start >= 0 else -1
    ours = old[start:end if end >= 0 else len(old)] if start >= 0 else ""
    blocks = {}
    for mode, title in MODES.items():
        at = ours.find(title)
        if at >= 0:
            stop = ours.find("\n### ", at + len(title))
            blocks[mode] = ours[at:stop if stop >= 0 else len(ours)].strip("\n")
    blocks[full] = text.strip("\n")
    body = "\n\n".join([SECTION, INTRO, *(blocks[m] for m in (False, True) if m in blocks)])
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + body
    else:
        new = old[:start] + body + ("\n" + old[end:] if end >= 0 else "")
    RESULTS.write_text(new.rstrip("\n") + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true", help="large sizes for our benchmarks")
    ap.add_argument("--only", help="comma-separated subset of " + ",".join(SCRIPTS))
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(SCRIPTS)
    results = {name: run(name, args.full and SCRIPTS[name]) for name in names}
    if any(results.get(k) for k in ("orchestration", "large", "readpath", "scaleout")):
        write_section(section(results, args.full), args.full)
    workers = [v for v in (pick(results, "large", "worker_peak_rss_mb"),
                           pick(results, "orchestration", "worker_peak_rss_mb")) if v]
    summary = {
        "orchestration_ratio": pick(results, "orchestration", "orchestration_ratio"),
        "items_per_s": pick(results, "orchestration", "items_per_s"),
        "raw_celery_items_per_s": pick(results, "orchestration", "raw_celery_items_per_s"),
        "large_items_per_s": pick(results, "large", "items_per_s"),
        "api_peak_rss_mb": pick(results, "large", "api_peak_rss_mb"),
        "worker_peak_rss_mb": max(workers) if workers else None,
        "redis_growth_mb": pick(results, "large", "redis_growth_mb"),
        "create_ms": pick(results, "large", "create_ms"),
        "item_ids_create_s": pick(results, "large", "item_ids_create_s"),
        "status_p50_ms": pick(results, "readpath", "status_p50_ms"),
        "status_p99_ms": pick(results, "readpath", "status_p99_ms"),
        "parse_pages_per_s": pick(results, "parse", "parse_pages_per_s"),
        "layout_order": pick(results, "layout", "layout_order"),
        "prose_as_table": pick(results, "layout", "prose_as_table"),
        "table_share_error": pick(results, "layout", "table_share_error"),
        "classify_docs_per_s": pick(results, "classify", "classify_docs_per_s"),
        "failed": [name for name, res in results.items() if res is None],
        "load_1m": round(os.getloadavg()[0], 2),
    }
    print("BENCH " + json.dumps(summary, sort_keys=True), flush=True)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
