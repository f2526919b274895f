"""Time and memory limits: a slow or hostile document fails its own item with a readable
message; the worker that met it lives on and keeps working."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.hostile import HOSTILE
from tests.faults.scenarios import FaultEnv, create_batch, job_items, wait_finished
from tests.harness import CORPUS

pytestmark = pytest.mark.faults
GOOD = b"An ordinary note that parses in a millisecond."


def _readable(message: str | None) -> bool:
    return bool(message) and "Traceback" not in message and len(message) < 400


def test_pool_children_run_under_the_memory_cap(env: FaultEnv) -> None:
    worker = env.ensure_item_workers()[0]
    cap = env.stack.settings.item_memory_limit_mb * 1024 * 1024
    assert cap > 0
    for pid in worker.children():
        limits = Path(f"/proc/{pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
        assert line.split()[3] == str(cap), line


def test_item_time_limit_counts_base_and_pages(env: FaultEnv) -> None:
    env.ensure_item_workers()[0]
    job_id = create_batch(env.stack, {
        "newspaper.png": (CORPUS / "old_newspaper.png").read_bytes(),  # one page, ~7 s of OCR
        "four-pages.pdf": (CORPUS / "pdflatex-4-pages.pdf").read_bytes(),  # text: instant
    }, {"invalidate_cache": True, "job_timeout_in_seconds": 2,
        "job_timeout_extra_time_per_page_in_seconds": 0.5})
    wait_finished(env.stack, job_id, timeout=60)
    items = job_items(env.stack, job_id)
    # 2 s + 0.5 s x 1 page: the scan cannot make it, and says how long it had; the 4-page
    # PDF had 4 s and needs a fraction of one.
    assert items["newspaper.png"]["status"] == "failed"
    assert items["newspaper.png"]["error_message"] == "timed out after 2.5 s"
    assert items["four-pages.pdf"]["status"] == "completed"


def test_hostile_documents_fail_their_item_and_the_worker_lives_on(env: FaultEnv) -> None:
    worker = env.ensure_item_workers()[0]
    files = {name: make() for name, make in HOSTILE.items()} | {"good.txt": GOOD}
    job_id = create_batch(env.stack, files, {"invalidate_cache": True,
                                             "job_timeout_in_seconds": 30})
    wait_finished(env.stack, job_id, timeout=120)
    items = job_items(env.stack, job_id)
    assert items["good.txt"]["status"] == "completed"
    for name in HOSTILE:
        assert items[name]["status"] == "failed", items[name]
        assert _readable(items[name]["error_message"]), items[name]
    assert "decompression bomb" in items["bomb.png"]["error_message"]
    assert "zip bomb" in items["bomb.docx"]["error_message"]
    assert "zip bomb" in items["bomb.xlsx"]["error_message"]
    assert "1000000 pages" in items["million-pages.pdf"]["error_message"]
    # pdfium aborts the pool child when it hits the address-space cap; after the bounded
    # number of attempts the item says so instead of looping.
    assert "attempts" in items["flate-bomb.pdf"]["error_message"]
    # The same worker process is still up and still parses.
    assert worker.proc.poll() is None
    after = create_batch(env.stack, {"after.txt": GOOD}, {"invalidate_cache": True})
    wait_finished(env.stack, after, timeout=60)
    assert job_items(env.stack, after)["after.txt"]["status"] == "completed"
