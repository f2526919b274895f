"""``large.py --storage s3``: a batch over an S3 prefix of N tiny files, against moto's S3
server on loopback (the S3 HTTP API; it is slower per request than MinIO or AWS S3, and runs
in this process, on the same cores as the workers).

The objects are put into moto's store directly (setup, not timed). Timed: the batch create
call with ``input_s3_path`` (the directory is filled by reference), the import (listing and
registering N keys), then every item read from S3, parsed and its result written back to
the service bucket. Reports creation latency, import seconds, items/s and peak RSS.
``import_only``: just the import of the prefix into a directory (the route a client polls),
to see a 100,000-key listing in bounded memory when parsing them all would not fit.
"""

from __future__ import annotations

import time
from typing import Any

from common import (
    Sampler,
    create_batch,
    deployment,
    emit,
    http_json,
    machine,
    table,
    wait_job,
)

from tests.s3_server import ROOT_KEY, moto_server

BUCKET, PREFIX = "bench-in", "docs/"


def _fill(n: int) -> None:
    """N distinct tiny text objects straight into moto's backend (as an upload would leave
    them; the service then reads them over HTTP like any S3 client)."""
    from moto.s3.models import s3_backends

    backend = s3_backends["123456789012"]["aws"]
    for i in range(n):
        backend.put_object(BUCKET, f"{PREFIX}doc-{i:06d}.txt",
                           f"s3 document {i}\nsecond line of text\n".encode())


def _import_seconds(dep: Any, directory_id: str) -> float:
    from batchsvc.models import S3Import
    from batchsvc.uow import unit_of_work

    with unit_of_work() as session:
        row = session.query(S3Import).filter_by(directory_id=directory_id).one()
        assert row.completed_at is not None, row.status
        return (row.completed_at - row.created_at).total_seconds()


def import_only(dep: Any, directory_id: str, n: int) -> dict[str, Any]:
    url = f"{dep.url}/api/v1/beta/directories/{directory_id}/imports"
    status, body, create_s = http_json("POST", url, dep.headers(),
                                       {"s3_path": f"s3://{BUCKET}/{PREFIX}"})
    if status != 202:
        raise RuntimeError(f"import answered {status}: {body}")
    polls = 0
    while True:
        _, row, _ = http_json("GET", f"{url}/{body['id']}", dep.headers())
        polls += 1
        if row["status"] in ("completed", "failed"):
            break
        time.sleep(1.0)
    seconds = _import_seconds(dep, directory_id)
    return {"status": row["status"], "processed": row["files_registered"], "failed": 0,
            "seconds": round(seconds, 1), "items_per_s": 0.0, "create_ms":
            round(create_s * 1000, 1), "import_s": round(seconds, 1),
            "import_keys_per_s": round(n / seconds, 1), "pages": row["pages_listed"],
            "progress_polls": polls, "items_per_s_after_import": 0.0}


def run(n: int, workers: int, only_import: bool = False) -> None:
    with moto_server() as s3:
        for bucket in ("bench-svc", BUCKET):
            s3.bucket(bucket)
        _fill(n)
        with deployment(storage_url="s3://bench-svc/batchsvc", s3_endpoint_url=s3.endpoint,
                        s3_access_key_id=ROOT_KEY[0],
                        s3_secret_access_key=ROOT_KEY[1]) as dep:
            dep.start_api()
            dep.start_worker(queues=("parse", "classify"), concurrency=workers)
            dep.start_worker(queues=("control", "webhooks"), concurrency=1)
            dep.start_beat()
            status, body, _ = http_json("POST", f"{dep.url}/api/v1/beta/directories",
                                        dep.headers(), {"name": "s3-large"})
            if status != 200:
                raise RuntimeError(f"directory create answered {status}: {body}")
            sampler = Sampler({"api": lambda: [dep.api.proc.pid] if dep.api else [],
                               "worker": lambda: [w.pid for w in dep.workers]}, interval=0.5)
            sampler.start()
            figures = (import_only if only_import else _batch)(dep, body["id"], n)
            sampler.stop()
    result = {"bench": "large", "storage": "s3", "n": n, "workers": workers,
              "import_only": only_import, **figures,
              "api_peak_rss_mb": round(sampler.peak_rss["api"], 1),
              "worker_peak_rss_mb": round(sampler.peak_rss["worker"], 1), **machine()}
    print(table(("measure", "value"), [
        ("items processed / failed", f"{result['processed']:,} / {result['failed']:,} "
                                     f"of {n:,} ({result['status']})"),
        ("create (ms)", result["create_ms"]),
        ("import: seconds / keys per s", f"{result['import_s']} / "
                                         f"{result['import_keys_per_s']}"),
        ("wall seconds / items per s (whole job)", f"{result['seconds']} / "
                                                   f"{result['items_per_s']}"),
        ("items per s after the import", result["items_per_s_after_import"]),
        ("peak RSS API / any worker process (MB)",
         f"{result['api_peak_rss_mb']} / {result['worker_peak_rss_mb']}"),
    ]))
    emit(result)


def _batch(dep: Any, directory_id: str, n: int) -> dict[str, Any]:
    started = time.time()
    job_id, create_s = create_batch(dep, {"directory_id": directory_id, "job_config": {
        "parameters": {"input_s3_path": f"s3://{BUCKET}/{PREFIX}"}}})
    row = wait_job(job_id, max(900.0, n / 10), interval=1.0)
    wall = row["completed_at"].timestamp() - started
    imported = _import_seconds(dep, directory_id)
    return {"status": row["status"], "processed": row["processed_items"],
            "failed": row["failed_items"], "seconds": round(wall, 1),
            "items_per_s": round(n / wall, 1), "create_ms": round(create_s * 1000, 1),
            "import_s": round(imported, 1), "import_keys_per_s": round(n / imported, 1),
            "items_per_s_after_import": round(n / max(wall - imported, 1e-9), 1)}
