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
# name: (script, arguments at the default size, arguments with --full); the engine benchmarks
# have one size. They go first: they count CPU seconds per page or document, which rise when
# the other core is busy (a run right after scaleout measured the parser at 169 pages/CPU-s,
# and at 259 alone a minute later, with the machine otherwise idle).
SCRIPTS: dict[str, tuple[str, list[str], list[str]]] = {
    "parse": ("parse", [], []), "layout": ("layout", [], []), "classify": ("classify", [], []),
    # The cluster README describes: two `batchsvc worker`s at their default concurrency.
    "orchestration": ("orchestration", ["--layout", "readme", "--n", "1000", "--rounds", "3"],
                      ["--layout", "readme", "--n", "1000", "--rounds", "5"]),
    "orchestration_10k": ("orchestration",
                          ["--layout", "readme", "--n", "10000", "--rounds", "2"],
                          ["--layout", "readme", "--n", "10000", "--rounds", "3"]),
    "service": ("service", [], ["--files", "600"]),
    "one_file": ("one_file", [], []),
    "driver": ("driver", [], []),
    "large": ("large", [], ["--full"]), "readpath": ("readpath", [], ["--full"]),
    "scaleout": ("scaleout", [], ["--full"]),
}


def run(name: str, full: bool) -> dict[str, Any] | None:
    script, default, large = SCRIPTS[name]
    argv = [sys.executable, str(BENCH / f"{script}.py"), *(large if full else default)]
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
    lg, rp, so = (results.get(k) or {} for k in ("large", "readpath", "scaleout"))
    o = results.get("orchestration") or results.get("orchestration_10k") or {}
    lines = [MODES[full], "", f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"{o.get('cores') or lg.get('cores')} cores.", ""]
    for key in ("orchestration", "orchestration_10k"):
        run_ = results.get(key) or {}
        if run_:
            lines += [
                f"**Orchestration** (`orchestration.py --layout {run_.get('layout', 'split')}`, "
                f"N = {run_['n']:,} tiny .txt items, {run_['workers']} item processes, "
                f"{run_['rounds']} alternating rounds): batchsvc {run_['items_per_s']} items/s "
                f"end to end through the API vs a raw Celery chord "
                f"{run_['raw_celery_items_per_s']} items/s; ratio "
                f"**{run_['orchestration_ratio']}** (rounds {run_['ratios']}); item queue empty "
                f"in {run_['item_queue_empty_share']:.1%} of samples; load "
                f"{run_['load_1m']}/{run_['load_5m']}/{run_['load_15m']}.", ""]
    lines += _speed_lines(results)
    if o:
        lines += [
            f"CPU ms per item by process role (last round of each system, N = {o['n']:,}):", "",
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
            "", "| req/s | endpoint | p50 ms | p99 ms | p99 / floor |", "|---|---|---|---|---|"]
        for rate, endpoints in rp["p50_p99_ms_by_rate"].items():
            floor = endpoints.get("healthz", [0, 0])[1]
            for name, (p50, p99) in endpoints.items():
                over = round(p99 / floor, 2) if floor else "-"
                lines.append(f"| {float(rate):.0f} | {name} | {p50} | {p99} | {over} |")
        lines += ["", "The floor is `/healthz` in the same load (the app and its server, no "
                  "database); `file_by_id` adds the key check and one primary-key SELECT."]
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


def _speed_lines(results: dict[str, dict[str, Any] | None]) -> list[str]:
    """The service against its engines, one-file latency, the database driver."""
    sv, of, dr = (results.get(k) or {} for k in ("service", "one_file", "driver"))
    lines: list[str] = []
    if sv:
        lines += [
            f"**Service vs engine** (`service.py`, {sv['workers']} worker processes, same run): "
            f"parse {sv.get('service_vs_engine_parse')} of the engine pool's pages/s "
            f"({sv.get('parse_failed_items')} failed items); classify "
            f"{sv.get('service_vs_engine_classify')} of the engine's per-document rate; "
            f"classify accuracy through the service {sv.get('classify_service_accuracy')} vs "
            f"the engine's batch mode {sv.get('classify_engine_batch_accuracy')} on the "
            f"{sv.get('classify_held_out')} held-out documents; load "
            f"{sv['load_1m']}/{sv['load_5m']}/{sv['load_15m']}.", ""]
    if of:
        lines += [
            f"**One-file latency** (`one_file.py`, {of['jobs']} sequential jobs each, idle "
            f"cluster, server created -> completed): 1-page PDF fast tier p50/p99 "
            f"{of['parse_pdf_p50_ms']}/{of['parse_pdf_p99_ms']} ms; short text parse "
            f"{of['parse_text_p50_ms']}/{of['parse_text_p99_ms']} ms; short text classify "
            f"{of['classify_text_p50_ms']}/{of['classify_text_p99_ms']} ms; load "
            f"{of['load_1m']}/{of['load_5m']}/{of['load_15m']}.", ""]
    if dr:
        cpu, wall = dr["driver_cpu_us"], dr["driver_wall_us"]
        lines += ["**Database driver** (`driver.py`, the item path's claim and finish, same "
                  "database, alternating; µs per item):", "",
                  "| driver | client CPU | wall |", "|---|---|---|"]
        lines += [f"| {k} | {cpu[k]} | {wall[k]} |" for k in cpu]
        lines += ["", f"psycopg2 (SQL text, what its SQLAlchemy dialect sends) over psycopg 3: "
                  f"wall x{dr['psycopg2_over_psycopg3_wall']}, CPU "
                  f"x{dr['psycopg2_over_psycopg3_cpu']}.", ""]
    return lines


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
    results: dict[str, dict[str, Any] | None] = {}
    loads: dict[str, float] = {}  # 1-min load average at each benchmark's end
    for name in names:
        results[name] = run(name, args.full)
        loads[name] = round(os.getloadavg()[0], 2)
    if any(results.get(k) for k in SCRIPTS if k not in ("parse", "layout", "classify")):
        write_section(section(results, args.full), args.full)
    workers = [v for v in (pick(results, "large", "worker_peak_rss_mb"),
                           pick(results, "orchestration", "worker_peak_rss_mb")) if v]
    summary = {
        "orchestration_ratio_1k": pick(results, "orchestration", "orchestration_ratio"),
        "orchestration_ratio_10k": pick(results, "orchestration_10k", "orchestration_ratio"),
        "service_vs_engine_parse": pick(results, "service", "service_vs_engine_parse"),
        "service_vs_engine_classify": pick(results, "service", "service_vs_engine_classify"),
        "classify_service_accuracy": pick(results, "service", "classify_service_accuracy"),
        "one_file_p50_ms": pick(results, "one_file", "one_file_p50_ms"),
        "one_file_p99_ms": pick(results, "one_file", "one_file_p99_ms"),
        "status_p99_over_floor": pick(results, "readpath", "status_p99_over_floor"),
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
        "load_1m_by_bench": loads,
    }
    print("BENCH " + json.dumps(summary, sort_keys=True), flush=True)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
