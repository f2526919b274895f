"""One pass through every call in API.md's batch table with the official SDK."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.harness import CORPUS

TERMINAL = ("completed", "failed", "cancelled")
FILES = [
    "minimal-document.pdf", "pdflatex-4-pages.pdf", "multi_page.pdf", "word_sample.docx",
    "markitdown_test.pptx", "markitdown_test.xlsx", "table_06.html",
    "002-trivial-libre-office-writer.pdf",
]


def upload_directory(client: Any, name: str, files: list[str] = FILES) -> tuple[Any, list[Any]]:
    directory = client.beta.directories.create(name=name)
    uploaded = []
    for file_name in files:
        with open(CORPUS / file_name, "rb") as fh:
            uploaded.append(client.beta.directories.files.upload(
                directory.id, upload_file=(file_name, fh)))
    return directory, uploaded


def wait_job(client: Any, job_id: str, timeout: float = 240) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.beta.batch.get_status(job_id)
        # A cancelled job is final once completed_at is set: every item is accounted for.
        if status.job.status in TERMINAL and status.job.completed_at is not None:
            return status
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {status}")


def snapshot(client: Any, job_id: str) -> dict[str, Any]:
    """What a user sees of a finished parse job, without ids that differ between runs."""
    status = client.beta.batch.get_status(job_id)
    items = sorted(client.beta.batch.job_items.list(job_id), key=lambda i: i.item_name)
    out: dict[str, Any] = {
        "status": status.job.status, "total": status.job.total_items,
        "processed": status.job.processed_items, "failed": status.job.failed_items,
        "skipped": status.job.skipped_items, "progress": status.progress_percentage,
        "items": [],
    }
    for item in items:
        lineage = client.beta.batch.job_items.get_processing_results(item.item_id)
        mine = [r for r in lineage.processing_results or [] if r.job_type == "parse"]
        parsed = client.parsing.get(item.job_id, expand=["text", "markdown"])
        out["items"].append({
            "name": item.item_name, "status": item.status, "skip": item.skip_reason,
            "error": item.error_message, "lineage": len(mine),
            "parameters_hash": mine[0].parameters_hash if mine else None,
            "parse_status": parsed.job.status,
            "pages": len(parsed.markdown.pages) if parsed.markdown else 0,
            "text": [p.text for p in parsed.text.pages] if parsed.text else [],
        })
    return out


def read_bytes(name: str) -> bytes:
    return Path(CORPUS / name).read_bytes()
