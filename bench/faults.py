"""Fault bench at the shipped defaults: N runs of each fault mid-batch; how many batches
ended with every item accounted for (terminal, counts add up, at most one lineage record per
item), how many items were lost, and the most seconds from the fault until every item that was
in flight ran again.

    python bench/faults.py [--runs 20] [--fault "redis restart"] [--broker rabbitmq]
                           [--no-write]

Runs on a private PostgreSQL cluster and a private Redis (or the machine's RabbitMQ, under a
namespace of its own; see tests/faults/scenarios.py), so stopping them harms nothing else.
The ``hosts`` scenario ('host cut off', 'kill -9 host') runs the stack on four test hosts
(network namespaces, root only; tests/faults/hosts.py) with a private Redis or RabbitMQ on the
database host. Prints a table and a final ``BENCH {json}`` line and writes the tables to
bench/RESULTS.md under ``## Faults`` and ``## Faults across hosts``.
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

from tests.faults.hosts import HOST_FAULTS, hosts_env  # noqa: E402
from tests.faults.injections import BROKER_FAULTS  # noqa: E402
from tests.faults.scenarios import Outcome, fault_env, run_fault  # noqa: E402

RESULTS = REPO / "bench" / "RESULTS.md"
HEADER = ("| broker | fault | runs | batches | accounted for | items | lost | "
          "duplicate lineage | max s to running again | slowest finish s |")


def summarise(broker: str, fault: str, runs: int, outcomes: list[Outcome]) -> dict[str, Any]:
    recoveries = [o.recovery_seconds for o in outcomes if o.recovery_seconds is not None]
    # Across hosts: the items of the host that went away (the other's just finished).
    victims = [o.api_checks["victim_recovery_seconds"] for o in outcomes
               if o.api_checks.get("victim_recovery_seconds") is not None]
    return {
        "broker": broker, "fault": fault, "runs": runs, "batches": len(outcomes),
        "accounted": sum(o.accounted for o in outcomes),
        "items": sum(o.total for o in outcomes),
        "lost": sum(o.lost for o in outcomes),
        "duplicate_lineage": sum(o.duplicate_lineage for o in outcomes),
        "max_recovery_s": max(victims or recoveries, default=None),
        "slowest_s": max((o.seconds for o in outcomes), default=0.0),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [HEADER, "|---" * 10 + "|"]
    for r in rows:
        lines.append(f"| {r['broker']} | {r['fault']} | {r['runs']} | {r['batches']} | "
                     f"{r['accounted']}/{r['batches']} | {r['items']} | {r['lost']} | "
                     f"{r['duplicate_lineage']} | {r['max_recovery_s']} | {r['slowest_s']} |")
    return "\n".join(lines)


def write_section(title: str, text: str) -> None:
    """Replace (or append) the section ``title``, leaving every other section alone."""
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    start = current.find(f"\n{title}\n")
    if start < 0:
        RESULTS.write_text(current.rstrip("\n") + "\n\n" + text)
        return
    end = current.find("\n## ", start + 1)
    rest = current[end:] if end >= 0 else "\n"
    RESULTS.write_text(current[:start] + "\n" + text.rstrip("\n") + "\n" + rest)


def run_faults(env: Any, broker: str, faults: list[str], runs: int,
               catalogue: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``runs`` runs of each fault on ``env``; one summary row per fault."""
    rows = []
    for fault in faults:
        outcomes: list[Outcome] = []
        for run in range(runs):
            results = run_fault(env, fault, catalogue)
            outcomes += results
            for o in results:
                recovered = o.api_checks.get("victim_recovery_seconds", o.recovery_seconds)
                # Host cut off: how long after the link was back its refused writes came.
                back = o.api_checks.get("tried_seconds")
                print(f"{broker} {fault} #{run + 1}: {o.job_id} {o.status} {o.counts} "
                      f"lost={o.lost} dup={o.duplicate_lineage} recovered={recovered}s "
                      f"{'' if back is None else f'back={back}s '}"
                      f"finished={o.seconds}s {'ok' if o.accounted else 'NOT ACCOUNTED'}",
                      flush=True)
        rows.append(summarise(broker, fault, runs, outcomes))
    return rows


SETUP = ("every setting at its shipped default (item lease 30 s renewed every 10 s, sweep "
         "every 10 s, shutdown grace 25 s): each run starts a batch of 18 tiny text files and "
         "2 scanned PDFs (OCR keeps items in flight), injects the fault while a scan is being "
         "processed, and waits up to 180 s. ")
ONE_MACHINE = (
    "Private PostgreSQL cluster and private Redis (no persistence: a restart loses every "
    "queued message and chord counter), or the machine's RabbitMQ; the API under gunicorn, "
    "a control worker, beat, and two item workers (prefork, 2 children each). 'max s to "
    "running again' is the longest time from the fault until the last item that was in "
    "flight started again on a live worker (or finished). 'redis restart' also creates a "
    "batch while Redis is down, 'rolling restart' a long scan that outlives the shutdown "
    "grace, 'kill -9 api' the batches its clients were creating. ")
ACROSS_HOSTS = (
    "Four test hosts (network namespaces joined by a bridge, tests/faults/netns.py): the API, "
    "beat and the control worker on one, an item worker (prefork, 2 children) on each of two "
    "more, a private PostgreSQL and a private Redis or RabbitMQ on the fourth, bound to its "
    "address. 'host cut off': the busy worker host's link goes down (its connections are left "
    "half-open, nothing is reset) until the other worker has finished the batch, at least "
    "lease + sweep interval (40 s), then comes back: its writes are refused by its claims' "
    "fence, or Celery cancels its tasks on the lost broker connection (RabbitMQ; see "
    "docs/liveness.md). 'kill -9 host': every process on "
    "the busy worker host is SIGKILLed, no replacement. 'max s to running again': from the "
    "fault until the last item the lost host held started again on the other worker. ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs of each fault")
    parser.add_argument("--broker", action="append", choices=sorted(BROKER_FAULTS),
                        help="this broker (repeatable); default: both")
    every = {f for fs in BROKER_FAULTS.values() for f in fs} | set(HOST_FAULTS)
    parser.add_argument("--fault", action="append", choices=sorted(every),
                        help="only this fault (repeatable); default: all, hosts included")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    rows: dict[str, list[dict[str, Any]]] = {"## Faults": [], "## Faults across hosts": []}
    seconds = dict.fromkeys(rows, 0.0)
    for broker in args.broker or sorted(BROKER_FAULTS, reverse=True):
        for title, names, make_env, catalogue in (
                ("## Faults", BROKER_FAULTS[broker], fault_env, None),
                ("## Faults across hosts", tuple(HOST_FAULTS), hosts_env, HOST_FAULTS)):
            faults = [f for f in names if not args.fault or f in args.fault]
            if not faults:
                continue
            began = time.time()
            with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp, \
                    make_env(Path(tmp), broker) as env:
                rows[title] += run_faults(env, broker, faults, args.runs, catalogue)
            seconds[title] += time.time() - began
    for title, section_rows in rows.items():
        if not section_rows:
            continue
        rendered = table(section_rows)
        print(f"{title}\n{rendered}")
        note = (f"`bench/faults.py --runs {args.runs}`, {SETUP}"
                f"{ONE_MACHINE if title == '## Faults' else ACROSS_HOSTS}"
                f"Total wall time {round(seconds[title])} s on 2 shared cores.")
        if not args.no_write:
            write_section(title, f"{title}\n\n{note}\n\n{rendered}\n")
    every_row = [r for section_rows in rows.values() for r in section_rows]
    print("BENCH " + json.dumps({"faults": every_row, "runs": args.runs}))
    ok = all(r["accounted"] == r["batches"] and not r["lost"] for r in every_row)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
