"""Beyond the peers: retry a job's failed items, stream every result, follow progress.

Results and events are generators that open a short session per page or per look, so no
transaction stays open while a slow client reads, and no more than one item's result is in
memory at a time.
"""

from __future__ import annotations

import copy
import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.db import session_scope
from batchsvc.models import BatchJob, JobItem, ProcessingResult
from batchsvc.services.batches import TERMINAL_JOB, fresh_view, get_job, new_job, progress
from batchsvc.services.errors import Conflict, Invalid
from batchsvc.storage import StorageError, get_storage
from schemas.batch import BatchStatusSchema

RESULT_PAGE = 200
HEARTBEAT_SECONDS = 15.0
# An events stream holds a server thread; clients (EventSource) reconnect after this.
STREAM_MAX_SECONDS = 600.0


def retry_job(session: Session, project_id: str, job_id: str,
              include_cancelled: bool) -> BatchJob:
    """A new job over the failed (and optionally cancelled) items of a finished job."""
    old = get_job(session, project_id, job_id)
    session.execute(sa.select(BatchJob.id).where(BatchJob.id == job_id).with_for_update())
    session.refresh(old)
    if old.status not in TERMINAL_JOB or old.completed_at is None:
        raise Conflict(f"batch job {job_id} is {old.status}; only a finished job can be "
                       "retried")
    running = session.scalar(sa.select(BatchJob.id).where(
        BatchJob.retry_of == job_id, BatchJob.completed_at.is_(None)))
    if running:
        raise Conflict(f"batch job {job_id} is already being retried by {running}")
    wanted = ["failed", "cancelled"] if include_cancelled else ["failed"]
    rows = session.execute(
        sa.select(JobItem.item_id, JobItem.file_id, JobItem.item_name)
        .where(JobItem.job_id == job_id, JobItem.status.in_(wanted))
        .order_by(JobItem.position)).all()
    if not rows:
        _nothing_to_retry(session, job_id, include_cancelled)
    config = copy.deepcopy(old.job_config)
    # A classify job's config names its classifier job; the retry gets a new one.
    if old.job_type == "classify":
        config.pop("id", None)
    job = new_job(session, project_id, old.job_type, config,
                  items=[(r.item_id, r.file_id, r.item_name) for r in rows],
                  page_size=old.page_size, threshold=old.continue_as_new_threshold)
    # The stored config is redacted: carry the encrypted originals and the hash over.
    job.secrets, job.parameters_hash, job.retry_of = old.secrets, old.parameters_hash, old.id
    return job


def _nothing_to_retry(session: Session, job_id: str, include_cancelled: bool) -> None:
    cancelled = session.scalar(sa.select(sa.func.count()).select_from(JobItem).where(
        JobItem.job_id == job_id, JobItem.status == "cancelled"))
    if cancelled and not include_cancelled:
        raise Invalid(["body", "include_cancelled"],
                      f"batch job {job_id} has no failed items; set include_cancelled to "
                      f"retry its {cancelled} cancelled items")
    raise Invalid(["path", "job_id"], f"batch job {job_id} has no failed or cancelled items "
                  "to retry")


def _result_rows(job_id: str) -> Iterator[Any]:
    """Every item of a job in order, paged by position, one short session per page."""
    last = -1
    while True:
        with session_scope() as session:
            rows = session.execute(
                sa.select(JobItem.position, JobItem.item_id, JobItem.item_name,
                          JobItem.status, JobItem.skip_reason, JobItem.error_message,
                          JobItem.result_job_id, ProcessingResult.output_key)
                .outerjoin(ProcessingResult, ProcessingResult.id == JobItem.result_id)
                .where(JobItem.job_id == job_id, JobItem.position > last)
                .order_by(JobItem.position).limit(RESULT_PAGE)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].position


def _head(row: Any) -> dict[str, Any]:
    return {"item_id": row.item_id, "item_name": row.item_name, "status": row.status,
            "skip_reason": row.skip_reason, "error_message": row.error_message,
            "job_id": row.result_job_id}


def jsonl_results(job_id: str) -> Iterator[bytes]:
    """One line per item; the stored result is copied through chunk by chunk, unparsed."""
    storage = get_storage()
    for row in _result_rows(job_id):
        yield json.dumps(_head(row))[:-1].encode() + b', "result": '
        if row.output_key is None:
            yield b"null}\n"
            continue
        chunks = storage.iter_chunks(row.output_key)
        try:
            first = next(chunks, b"null")
        except StorageError as exc:
            yield b'null, "result_error": ' + json.dumps(str(exc)).encode() + b"}\n"
            continue
        yield first
        yield from chunks
        yield b"}\n"


def _load_result(key: str | None) -> Any:
    if key is None:
        return None
    try:
        return json.loads(get_storage().get_bytes(key))
    except (StorageError, ValueError):
        return None


class _Pipe(io.RawIOBase):
    """An unseekable sink: zipfile writes into it, the response generator drains it."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        return len(data)

    def drain(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _entry_name(name: str, suffix: str, used: set[str]) -> str:
    base = "".join(c if c.isprintable() and c not in '/\\:*?"<>|' else "_" for c in name)
    base = base.strip(". ") or "document"
    candidate, n = f"{base}{suffix}", 1
    while candidate in used:
        n += 1
        candidate = f"{base}-{n}{suffix}"
    used.add(candidate)
    return candidate


def zip_results(job_id: str, job_type: str) -> Iterator[bytes]:
    """A zip streamed as it is built: markdown per parsed document plus manifest.jsonl, or
    classifications.jsonl for a classify job."""
    from batchsvc.engines.parse.render import full_markdown

    pipe = _Pipe()
    used: set[str] = set()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        listing = "classifications.jsonl" if job_type == "classify" else "manifest.jsonl"
        entries: list[bytes] = []
        for row in _result_rows(job_id):
            line = _head(row)
            stored = _load_result(row.output_key)
            if job_type == "classify":
                stored = stored if isinstance(stored, dict) else {}
                line |= {k: stored.get(k) for k in ("type", "confidence", "reasoning")}
            else:
                line["file"] = None
                if isinstance(stored, dict):
                    line["file"] = _entry_name(row.item_name, ".md", used)
                    archive.writestr(line["file"], full_markdown(stored))
            entries.append(json.dumps(line).encode() + b"\n")
            yield pipe.drain()
        with archive.open(listing, "w") as listing_file:
            for entry in entries:
                listing_file.write(entry)
    yield pipe.drain()


def _sse(event: str, data: dict[str, Any], event_id: int) -> bytes:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n".encode()


def progress_events(project_id: str, job_id: str, interval: float) -> Iterator[bytes]:
    """Server-sent events: ``progress`` whenever the counts change, ``end`` once the job has
    ended, a comment line as heartbeat, and a reconnect hint after STREAM_MAX_SECONDS."""
    started = last_sent = time.monotonic()
    previous: dict[str, Any] | None = None
    event_id = 0
    yield b"retry: 2000\n\n"
    while True:
        with session_scope() as session:
            job = get_job(session, project_id, job_id)
            view = fresh_view(session, job)
            ended = job.status in TERMINAL_JOB and job.completed_at is not None
        data = BatchStatusSchema().dump({"job": view, "progress_percentage": progress(view)})
        now = time.monotonic()
        if data != previous:
            event_id += 1
            yield _sse("progress", data, event_id)
            previous, last_sent = data, now
        if ended:
            yield _sse("end", data, event_id + 1)
            return
        if now - started > STREAM_MAX_SECONDS:
            return
        if now - last_sent > HEARTBEAT_SECONDS:
            yield b": keep-alive\n\n"
            last_sent = now
        time.sleep(interval)
