"""One item, start to end: claim, run the engine, store result and lineage, never raise for
a document.

A header task that raised would keep its chord's callback from running, so document errors
become a failed item and a small return value (DESIGN.md, step 3). Only a database outage
escapes (``is_transient_db_error``): the task adapter retries the same message then.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np
from billiard.exceptions import SoftTimeLimitExceeded

from batchsvc import limits
from batchsvc.logs import bind as bind_log_ids
from batchsvc.metrics import observe_item
from batchsvc.services import pipeline
from batchsvc.services.items import get_store, heartbeat, url_input
from batchsvc.services.items.engines import (
    DocumentError,
    EngineRun,
    run_classify,
    run_parse,
)
from batchsvc.services.items.images import store_images
from batchsvc.services.items.reuse import reused_parse
from batchsvc.services.items.store import Claim, KeptEvidence, user_output
from batchsvc.settings import get_settings
from batchsvc.states import ItemStatus
from batchsvc.storage import StorageError, get_storage
from batchsvc.uow import unit_of_work

log = logging.getLogger("batchsvc.items")


def process_item(seq: int, token: str | None = None) -> dict[str, Any]:
    """Run item ``seq`` under the claim of message ``token``; {"seq", "status"}."""
    store = get_store()
    claim = store.claim(seq, token)
    if claim is None:
        return {"seq": seq, "status": "noop"}
    bind_log_ids(job_id=claim.job_id, item_id=claim.item_id, item_name=claim.item_name)
    if claim.starts_job:
        with unit_of_work() as session:
            pipeline.mark_running(session, claim.job_id)
    settings = get_settings()
    # The lease lives while this process works on the item, up to the item's hard limit.
    hard_limit = limits.celery_time_limits(claim.job.params,
                                           settings.item_time_limit_seconds)[1]
    started = time.perf_counter()
    with heartbeat.holding(seq, claim.attempt, hard_limit):
        status, fields = _outcome(claim, hard_limit)
    if status != ItemStatus.COMPLETED and not store.finish(claim, status, **fields):
        _fenced(claim)
    observe_item(claim.job.job_type, claim.item_name, status, time.perf_counter() - started)
    return {"seq": seq, "status": str(status)}


def _outcome(claim: Claim, hard_limit: float) -> tuple[ItemStatus, dict[str, Any]]:
    """Run the item; (COMPLETED, {}) once its result is stored, else the final status and
    the fields that explain it."""
    settings = get_settings()
    stored = claim.file
    if claim.attempt > settings.item_max_attempts:
        return ItemStatus.FAILED, {"error": f"gave up after {claim.attempt - 1} attempts: the "
                                   "worker processing this item was lost each time (it "
                                   "crashed, was killed or ran out of memory)"}
    store = get_store()
    url = url_input.requested(claim)
    if url is not None:
        try:
            claim, data = url_input.fetch_document(claim, url)
        except url_input.DocumentFetchError as exc:
            return ItemStatus.FAILED, {"error": str(exc)}
    elif stored is None:
        return ItemStatus.FAILED, {"error": "the file was deleted before it could be processed"}
    elif stored.size > settings.max_item_bytes:
        return ItemStatus.SKIPPED, {
            "skip_reason": "size_limit_exceeded",
            "error": f"file is {stored.size} bytes; the limit is {settings.max_item_bytes}"}
    elif stored.cached_result_id:
        return ItemStatus.SKIPPED, {"skip_reason": "already_processed",
                                    "result_id": stored.cached_result_id}
    else:
        try:
            data = store.read_file(claim)
        except StorageError as exc:
            return ItemStatus.FAILED, {"error": str(exc)}
    try:
        seconds = limits.item_seconds(claim.job.params, limits.page_count(data),
                                      settings.item_time_limit_seconds)
        with limits.deadline(seconds):
            run = _run_engine(claim, data)
    except (limits.ItemTimeout, DocumentError) as exc:
        return ItemStatus.FAILED, {"error": str(exc)}
    except SoftTimeLimitExceeded:
        return ItemStatus.FAILED, {"error": f"timed out after {hard_limit:g} s"}
    except MemoryError:
        return ItemStatus.FAILED, {"error": limits.memory_message(settings.item_memory_limit_mb)}
    except Exception as exc:  # noqa: BLE001 - a bad document must not kill the chord
        log.exception("engine error on item %s", claim.seq)
        return ItemStatus.FAILED, {"error": f"could not process the document: "
                                   f"{type(exc).__name__}: {exc}"}
    store_images(claim, run)
    output = json.dumps(run.output, default=str).encode()
    try:
        write_user_outputs(claim, run.output)
        kept = None if run.evidence is None else KeptEvidence(
            run.evidence.doc.astype(np.float32).tobytes(), run.evidence.matched)
        result_id = store.store_result(claim, output, run.summary, kept)
    except StorageError as exc:
        return ItemStatus.FAILED, {"error": f"output_s3_path_prefix: {exc}"}
    if result_id is None:
        _fenced(claim)
    return ItemStatus.COMPLETED, {}


def _run_engine(claim: Claim, data: bytes) -> EngineRun:
    config = claim.job.config
    if claim.job.job_type == "classify":
        # A classify job over a parse job reads that job's stored text (items/reuse.py).
        return run_classify(data, claim.item_name, config, parsed=reused_parse(config))
    return run_parse(data, claim.item_name, config)


def _fenced(claim: Claim) -> None:
    # A holder that was cut off or stopped past its lease comes back to find the item
    # re-claimed: its write matched no row (docs/liveness.md, fencing). Operators see why a
    # worker's work was dropped; nothing else changes.
    log.warning("item %s: claim %s was taken over while it ran; this result was discarded",
                claim.seq, claim.attempt)


def write_user_outputs(claim: Claim, output: Any) -> None:
    """``output_s3_path_prefix``: the item's markdown and text beside its JSON (which
    store_result writes, so lineage points at it); StorageError names the key."""
    if user_output(claim) is None or claim.job.job_type != "parse":
        return
    from batchsvc.engines.parse.render import full_markdown, full_text

    storage = get_storage()
    for extension, text in (("md", full_markdown(output)), ("txt", full_text(output))):
        storage.put_bytes(str(user_output(claim, extension)), text.encode())
