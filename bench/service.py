"""Real documents at engine speed: the service vs its engines alone on the same cores.

parse: every document of the shared corpus (all formats, scans included) repeated to at least
--files files, uploaded into a directory through the SDK and parsed as one batch
(invalidate_cache: every copy is really parsed) by a cluster of --workers pool processes
(Postgres, Redis, gunicorn API, one `batchsvc worker` on every queue, beat); against the same
files through ``parse_document`` in a process pool of --workers processes, in the same run.
classify: ../shared/classify/bbc_500.csv as .txt files with rules.json, one FAST batch
through the SDK (refined over the job before it completes), against ``classify_text`` per
document in a pool of --workers processes (the engine's per-document rate); accuracy through
the service against the engine's batch mode on the held-out split (val + test).
Times: the batch from its create request to its ``completed_at``; the pool from its first
document to its last (workers warmed up first, as a started worker is). Uploads are setup.
Usage: .venv/bin/python bench/service.py [--files 300] [--workers 2] [--only parse,classify]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    cpu_by_role,
    cpu_delta,
    cpu_seconds,
    deployment,
    emit,
    machine,
    table,
    wait_job,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"


def corpus_files(minimum: int) -> list[tuple[str, bytes]]:
    docs = sorted(p for p in CORPUS.iterdir() if p.is_file()
                  and p.name not in ("MANIFEST.tsv", "README.md"))
    files = []
    while len(files) < minimum:
        for path in docs:
            files.append((f"c{len(files):04d}-{path.name}", path.read_bytes()))
    return files


def bbc() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    csv.field_size_limit(10**8)
    with (SHARED / "classify" / "bbc_500.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return rows, json.loads((SHARED / "classify" / "rules.json").read_text())


# ---------------------------------------------------------------- the engines alone

def _parse_one(item: tuple[str, bytes]) -> int:
    from batchsvc.engines.parse import ParseError, parse_document

    try:
        return sum(1 for p in parse_document(item[1], item[0], {}).pages if p.success)
    except ParseError:
        return 0


_RULES: list[dict[str, str]] = []


def _classify_init(rules: list[dict[str, str]], workers: int) -> None:
    from batchsvc.engines.classify.model import get_encoder
    from batchsvc.services.items.engines import configure_model

    _RULES[:] = rules
    # The threads a worker's pool process gets (one per process when they fill the cores),
    # so the ratio compares the orchestration, not a thread setting.
    configure_model(pool_processes=workers)
    get_encoder()  # a started worker has its model loaded


def _classify_one(text: str) -> str | None:
    from batchsvc.engines.classify import classify_text

    return classify_text(text, _RULES).type


def engine_parse(files: list[tuple[str, bytes]], workers: int) -> dict[str, float]:
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_parse_one, files[:workers])  # warm up: imports, pdfium, tesseract
        started = time.perf_counter()
        pages = sum(pool.map(_parse_one, files, chunksize=1))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "files": len(files), "pages": pages}


def engine_classify(texts: list[str], rules: list[dict[str, str]], workers: int
                    ) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_classify_init, initargs=(rules, workers)) as pool:
        pool.map(_classify_one, texts[:workers])
        pids = [proc.pid for proc in pool._pool]  # type: ignore[attr-defined]
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        started = time.perf_counter()
        pool.map(_classify_one, texts, chunksize=1)
        seconds = time.perf_counter() - started
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    return {"seconds": seconds, "files": len(texts),
            "cpu_ms_per_file": round(1000 * cpu / len(texts), 2)}


# ---------------------------------------------------------------- the service

def service_batch(dep: Any, files: list[tuple[str, bytes]], job_config: dict[str, Any],
                  timeout: float) -> dict[str, Any]:
    """Upload through the SDK, run one batch, wait for it; seconds from create to completed."""
    client = dep.sdk()
    folder = client.beta.directories.create(name=f"svc-{int(time.time())}")
    for name, data in files:
        client.beta.directories.files.upload(folder.id, upload_file=(name, data))
    cpu_before = cpu_by_role(dep)
    started = time.time()
    job = client.beta.batch.create(job_config=job_config, directory_id=folder.id)
    row = wait_job(job.id, timeout)
    spent = cpu_delta(cpu_before, cpu_by_role(dep))
    return {"seconds": row["completed_at"].timestamp() - started, "job_id": job.id,
            "row": row, "client": client, "phases": phases(job.id, started),
            "cpu_ms_per_file": {role: round(1000 * sec / len(files), 2)
                                for role, sec in spent.items() if sec}}


def phases(job_id: str, created: float) -> dict[str, float]:
    """Where a batch's time went: create to the first item started, the items, the last
    item to the job's completion (a classify job's refinement runs there)."""
    import sqlalchemy as sa

    from batchsvc.models import BatchJob, JobItem
    from batchsvc.uow import unit_of_work

    with unit_of_work() as session:
        first, last = session.execute(sa.select(
            sa.func.min(JobItem.started_at), sa.func.max(JobItem.completed_at))
            .where(JobItem.job_id == job_id)).one()
        job = session.get(BatchJob, job_id)
        assert job is not None and job.completed_at is not None
        done = job.completed_at.timestamp()
        marks = {f"last_item_to_{name}_s": round(at.timestamp() - last.timestamp(), 2)
                 for name, at in (("refine_requested", job.refine_requested_at),
                                  ("refined", job.refined_at)) if at is not None}
    return {"to_first_item_s": round(first.timestamp() - created, 2),
            "items_s": round(last.timestamp() - first.timestamp(), 2),
            "last_item_to_completed_s": round(done - last.timestamp(), 2)} | marks


def service_pages(job_id: str) -> int:
    import sqlalchemy as sa

    from batchsvc.models import JobItem, ProcessingResult
    from batchsvc.uow import unit_of_work

    with unit_of_work() as session:
        metas = session.scalars(sa.select(ProcessingResult.output_metadata).join(
            JobItem, JobItem.result_id == ProcessingResult.id).where(JobItem.job_id == job_id))
        return sum(int((m or {}).get("pages", 0)) - int((m or {}).get("failed_pages", 0))
                   for m in metas)


def service_answers(job_id: str) -> dict[str, str | None]:
    import sqlalchemy as sa

    from batchsvc.models import JobItem, ProcessingResult
    from batchsvc.uow import unit_of_work

    with unit_of_work() as session:
        rows = session.execute(sa.select(JobItem.item_name, ProcessingResult.output_metadata)
                               .join(ProcessingResult, ProcessingResult.id == JobItem.result_id)
                               .where(JobItem.job_id == job_id)).all()
    return {name: (meta or {}).get("type") for name, meta in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", default="parse,classify")
    args = ap.parse_args()
    wanted = set(args.only.split(","))
    result: dict[str, Any] = {"bench": "service", "workers": args.workers}
    rows = []
    with deployment(worker_concurrency=args.workers) as dep:
        dep.start_api()
        dep.start_worker(concurrency=args.workers)
        dep.start_beat()
        if "parse" in wanted:
            files = corpus_files(args.files)
            engine = engine_parse(files, args.workers)
            run = service_batch(dep, files, {"parameters": {"invalidate_cache": True}},
                                timeout=3600)
            pages = service_pages(run["job_id"])
            ratio = (pages / run["seconds"]) / (engine["pages"] / engine["seconds"])
            rows += [("parse", "engine pool", len(files), engine["pages"],
                      round(engine["seconds"], 1), round(engine["pages"] / engine["seconds"], 2),
                      round(len(files) / engine["seconds"], 2)),
                     ("parse", "service (SDK)", len(files), pages, round(run["seconds"], 1),
                      round(pages / run["seconds"], 2), round(len(files) / run["seconds"], 2))]
            result |= {"service_vs_engine_parse": round(ratio, 3), "parse_phases": run["phases"],
                       "parse_cpu_ms_per_file": run["cpu_ms_per_file"],
                       "parse_failed_items": run["row"]["failed_items"]}
        if "classify" in wanted:
            data, rules = bbc()
            texts = [r["text"] for r in data]
            engine = engine_classify(texts, rules, args.workers)
            files = [(f"{r['id']}.txt", r["text"].encode()) for r in data]
            run = service_batch(dep, files, {"rules": rules, "mode": "FAST",
                                             "parameters": {"invalidate_cache": True}},
                                timeout=3600)
            answers = service_answers(run["job_id"])
            held = [r for r in data if r["split"] != "train"]
            service_acc = sum(answers.get(f"{r['id']}.txt") == r["label"] for r in held) \
                / len(held)
            from batchsvc.engines.classify import classify_texts

            batch = classify_texts([r["text"] for r in held], rules)
            engine_acc = sum(c.type == r["label"] for c, r in zip(batch, held, strict=True)) \
                / len(held)
            ratio = (len(texts) / run["seconds"]) / (len(texts) / engine["seconds"])
            rows += [("classify", "engine pool (per document)", len(texts), "-",
                      round(engine["seconds"], 1), "-", round(len(texts) / engine["seconds"], 2)),
                     ("classify", "service (SDK, refined)", len(texts), "-",
                      round(run["seconds"], 1), "-", round(len(texts) / run["seconds"], 2))]
            result |= {"service_vs_engine_classify": round(ratio, 3),
                       "classify_phases": run["phases"],
                       "classify_cpu_ms_per_file": run["cpu_ms_per_file"],
                       "classify_engine_cpu_ms_per_file": engine["cpu_ms_per_file"],
                       "classify_service_accuracy": round(service_acc, 4),
                       "classify_engine_batch_accuracy": round(engine_acc, 4),
                       "classify_held_out": len(held)}
    print(table(("kind", "system", "files", "pages", "seconds", "pages/s", "files/s"), rows))
    emit(result | machine())


if __name__ == "__main__":
    main()
