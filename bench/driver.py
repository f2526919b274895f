"""Database driver for the item path: psycopg 3 (what batchsvc uses) vs psycopg2 (what the
design card names), the same two statements per item against the same Postgres, alternating.

Each "item" is the item path's claim and finish: an UPDATE ... RETURNING of one job_items row
and an UPDATE of it back, on one autocommit connection. psycopg 3 runs them as server-side
prepared statements (``prepare=True``, as services/items/itemdb.py does); psycopg2 has no
prepare API, so it sends the SQL text each time (what its SQLAlchemy dialect does), and a third
row shows psycopg2 with hand-written PREPARE/EXECUTE. Client CPU per item (this process) and
wall time per item.
Usage: .venv/bin/python bench/driver.py [--items 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SETUP = """
CREATE TABLE items (seq bigserial PRIMARY KEY, status varchar(16) NOT NULL,
                    attempts int NOT NULL DEFAULT 0, lease_until timestamptz,
                    claim_token varchar(64), updated_at timestamptz);
INSERT INTO items (status) SELECT 'pending' FROM generate_series(1, %d);
"""
CLAIM = ("UPDATE items SET status = 'processing', attempts = attempts + 1, "
         "lease_until = now() + interval '30 seconds', claim_token = %(t)s, updated_at = now() "
         "WHERE seq = %(s)s AND status = 'pending' RETURNING seq, attempts")
FINISH = ("UPDATE items SET status = 'pending', lease_until = NULL, updated_at = now() "
          "WHERE seq = %(s)s AND status = 'processing' AND attempts = %(a)s")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_psycopg3(dsn: str, n: int) -> tuple[float, float]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True, prepare_threshold=0,
                         options="-c synchronous_commit=off") as conn:
        cur = conn.cursor()
        cpu, wall = _cpu(), time.perf_counter()
        for seq in range(1, n + 1):
            cur.execute(CLAIM, {"t": "tok", "s": seq}, prepare=True)
            attempts = cur.fetchone()[1]  # type: ignore[index]
            cur.execute(FINISH, {"s": seq, "a": attempts}, prepare=True)
        return _cpu() - cpu, time.perf_counter() - wall


def run_psycopg2(dsn: str, n: int, prepared: bool) -> tuple[float, float]:
    import psycopg2

    conn = psycopg2.connect(dsn, options="-c synchronous_commit=off")
    conn.autocommit = True
    cur = conn.cursor()
    claim, finish = CLAIM, FINISH
    if prepared:
        cur.execute("PREPARE claim(text, bigint) AS " + CLAIM.replace("%(t)s", "$1")
                    .replace("%(s)s", "$2"))
        cur.execute("PREPARE finish(bigint, int) AS " + FINISH.replace("%(s)s", "$1")
                    .replace("%(a)s", "$2"))
        claim, finish = "EXECUTE claim(%(t)s, %(s)s)", "EXECUTE finish(%(s)s, %(a)s)"
    cpu, wall = _cpu(), time.perf_counter()
    for seq in range(1, n + 1):
        cur.execute(claim, {"t": "tok", "s": seq})
        attempts = cur.fetchone()[1]
        cur.execute(finish, {"s": seq, "a": attempts})
    result = _cpu() - cpu, time.perf_counter() - wall
    conn.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import psycopg

    name = f"bench_driver_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SETUP % args.items)  # type: ignore[arg-type]
        runs: dict[str, list[tuple[float, float]]] = {
            "psycopg 3, prepared": [], "psycopg2, SQL text": [], "psycopg2, PREPARE/EXECUTE": []}
        for _ in range(args.rounds):
            runs["psycopg 3, prepared"].append(run_psycopg3(dsn, args.items))
            runs["psycopg2, SQL text"].append(run_psycopg2(dsn, args.items, False))
            runs["psycopg2, PREPARE/EXECUTE"].append(run_psycopg2(dsn, args.items, True))
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    per_item = {k: (1e6 * statistics.median(c for c, _ in v) / args.items,
                    1e6 * statistics.median(w for _, w in v) / args.items)
                for k, v in runs.items()}
    print(f"{args.items} items x {args.rounds} rounds, medians; client CPU and wall per item")
    print("| driver | client CPU µs/item | wall µs/item |\n|---|---|---|")
    for k, (cpu, wall) in per_item.items():
        print(f"| {k} | {cpu:.0f} | {wall:.0f} |")
    base = per_item["psycopg 3, prepared"]
    text = per_item["psycopg2, SQL text"]
    print("BENCH " + json.dumps({
        "driver_cpu_us": {k: round(v[0], 1) for k, v in per_item.items()},
        "driver_wall_us": {k: round(v[1], 1) for k, v in per_item.items()},
        "psycopg2_over_psycopg3_wall": round(text[1] / base[1], 3),
        "psycopg2_over_psycopg3_cpu": round(text[0] / base[0], 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
