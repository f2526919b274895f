"""Every result of a job, streamed: JSON lines, or a zip of markdown files with a manifest.

Generators that open a short session per page, so no transaction stays open while a slow
client reads, and no more than one item's result is in memory at a time.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from batchsvc.models import JobItem, ProcessingResult
from batchsvc.storage import StorageError, get_storage
from batchsvc.uow import unit_of_work

RESULT_PAGE = 200


def _result_rows(job_id: str) -> Iterator[Any]:
    """Every item of a job in order, paged by position, one short session per page."""
    last = -1
    while True:
        with unit_of_work() as session:
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


def entry_name(name: str, suffix: str, used: set[str]) -> str:
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
                    line["file"] = entry_name(row.item_name, ".md", used)
                    archive.writestr(line["file"], full_markdown(stored))
            entries.append(json.dumps(line).encode() + b"\n")
            yield pipe.drain()
        with archive.open(listing, "w") as listing_file:
            for entry in entries:
                listing_file.write(entry)
    yield pipe.drain()
