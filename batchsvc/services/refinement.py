"""Batch refinement of a classify job, over the whole job, once every item is done.

The engine refines a batch's answers with its own confidently classified documents as
examples of each rule (engines.classify.scoring.refine_with_batch). The service classifies
each file in its own task, so each item keeps its document vector (``classify_evidence``);
when the job's last item has settled, ``pipeline.advance`` asks for one refinement before the
job may complete (``refine_requested_at``), a classify worker runs it here (the rules'
vectors need the model), rewrites the answers it changed (the lineage's summary and the
stored output), sets ``refined_at`` and advances the job, which then completes.

So a file's answer never depends on which page or task it landed in, only on the job; a job
too small to refine (engines' REFINE_MIN_DOCS confident documents) keeps its per-file answers.
The vectors are deleted when the job ends. Items skipped as ``already_processed`` keep
the answer of the job that computed it (refined there): a reused result is never rewritten by
another job, nor does it take part in this one's refinement.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.engines.classify import (
    DEFAULT_MODE,
    REFINE_MIN_DOCS,
    Evidence,
    refine_evidence,
)
from batchsvc.messaging import ADVANCE_JOB, REFINE_JOB
from batchsvc.models import BatchJob, ClassifyEvidence, JobItem, ProcessingResult, utcnow
from batchsvc.states import ItemStatus
from batchsvc.storage import get_storage
from batchsvc.uow import unit_of, unit_of_work

log = logging.getLogger("batchsvc.refinement")
# A refinement asked for this long ago without finishing was lost (its worker died): again.
REQUEST_TIMEOUT = timedelta(minutes=10)


def forget(session: Session, job_id: str) -> None:
    """The job's vectors, once it has ended (refined or not)."""
    if session.scalar(sa.select(ClassifyEvidence.result_id)
                      .where(ClassifyEvidence.job_id == job_id).limit(1)) is not None:
        session.execute(sa.delete(ClassifyEvidence).where(ClassifyEvidence.job_id == job_id))


def wanted(job: BatchJob) -> bool:
    """The job refines before it completes: a FAST classify job with rules to rank and enough
    classified documents to refine with (one-file jobs never wait for it)."""
    config = job.job_config
    return (job.job_type == "classify" and job.refined_at is None
            and (job.processed_items or 0) >= REFINE_MIN_DOCS
            and str(config.get("mode") or DEFAULT_MODE).upper() == DEFAULT_MODE
            and len(config.get("rules") or []) >= 2)


def request(session: Session, job: BatchJob) -> None:
    """Ask a classify worker to refine ``job`` (with its row locked), unless already asked."""
    now = utcnow()
    if job.refine_requested_at is not None and now - job.refine_requested_at < REQUEST_TIMEOUT:
        return
    job.refine_requested_at = now
    unit_of(session).send(REFINE_JOB, job.id)


def refine_job(job_id: str) -> dict[str, Any]:
    """Refine the job's answers; then mark it refined and advance it."""
    with unit_of_work() as session:
        job = session.get(BatchJob, job_id)
        if job is None or job.refined_at is not None:
            return {"job_id": job_id, "state": "done"}
        rules = job.job_config["rules"]
        rows = session.execute(
            sa.select(ClassifyEvidence.vector, ClassifyEvidence.matched, JobItem.status,
                      ProcessingResult.id, ProcessingResult.job_id, ProcessingResult.output_key,
                      ProcessingResult.output_metadata)
            .join(JobItem, JobItem.result_id == ClassifyEvidence.result_id)
            .join(ProcessingResult, ProcessingResult.id == ClassifyEvidence.result_id)
            .where(JobItem.job_id == job_id,
                   JobItem.status.in_((ItemStatus.COMPLETED, ItemStatus.SKIPPED)))
            .order_by(JobItem.position)).all()
    evidence = [Evidence(np.frombuffer(r.vector, dtype=np.float32), r.matched) for r in rows]
    # None: too few confident documents per rule to refine with; every file keeps its answer.
    refined = refine_evidence(evidence, rules) or [None] * len(rows)
    # Only this job's own results; a reused one keeps the answer of its job.
    changes = [(row, after) for row, answer in zip(rows, refined, strict=True)
               if answer is not None and row.job_id == job_id
               and (after := _refined_summary(row.output_metadata, answer)) is not None]
    # One transaction for every rewritten answer and the job's refined mark: a worker lost
    # half-way leaves the job unrefined (asked again after REQUEST_TIMEOUT), never half-refined
    # on a database store; objects elsewhere are rewritten again with the same answer.
    storage = get_storage()
    with unit_of_work() as session:
        connection = session.connection()
        for row, after in changes:
            storage.put_bytes(row.output_key, json.dumps(after).encode(), connection=connection)
        if changes:
            session.execute(sa.update(ProcessingResult), [
                {"id": row.id, "output_metadata": after} for row, after in changes])
        job = session.get(BatchJob, job_id)
        if job is not None:
            job.refined_at = utcnow()
            unit_of(session).send(ADVANCE_JOB, job_id)
    log.info("job %s refined over %d documents: %d answers changed", job_id, len(rows),
             len(changes))
    return {"job_id": job_id, "documents": len(rows), "changed": len(changes)}


def _refined_summary(summary: dict[str, Any] | None, answer: Any) -> dict[str, Any] | None:
    """The refined answer of one result as its lineage summary and output; None when the
    refinement left it as it was."""
    before = dict(summary or {})
    note = (f"Refined over this job: its {answer.examples} confidently classified documents "
            f"of '{answer.type}' were examples of that rule.")
    after = before | {"type": answer.type, "confidence": answer.confidence}
    if after["type"] == before.get("type") and after["confidence"] == before.get("confidence"):
        return None
    if after["type"] != before.get("type"):
        after["reasoning"] = f"{note} Before refinement: '{before.get('type')}'. " \
            f"{before.get('reasoning', '')}"
    after["notes"] = [*before.get("notes", []), note]
    return after
