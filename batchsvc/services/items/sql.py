"""The item path's statements, shared by both stores: built once, with bound parameters
(building a statement costs more CPU than executing it), compiled for psycopg once on Postgres.

Every status change takes its statuses from batchsvc.states; every write after a claim is
fenced by ``OWNED`` (docs/liveness.md).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import sqlalchemy as sa

from batchsvc.models import (
    BatchJob,
    ClassifyEvidence,
    JobItem,
    ProcessingResult,
    StoredFile,
    utcnow,
)
from batchsvc.states import ItemStatus, JobStatus

items = cast(sa.Table, JobItem.__table__)
jobs = cast(sa.Table, BatchJob.__table__)
files = cast(sa.Table, StoredFile.__table__)
results = cast(sa.Table, ProcessingResult.__table__)
evidence = cast(sa.Table, ClassifyEvidence.__table__)
NOW = sa.bindparam("b_now", type_=sa.DateTime(timezone=True))
LEASE = sa.bindparam("b_lease", type_=sa.DateTime(timezone=True))

# pending -> processing, or re-claim a processing item whose lease ran out or that is still
# held under this message's id (its redelivery), of a job that is not cancelled.
CLAIM = (
    sa.update(items)
    .where(items.c.seq == sa.bindparam("b_seq"),
           sa.exists().where(jobs.c.id == items.c.job_id, jobs.c.status != JobStatus.CANCELLED),
           sa.or_(items.c.status == ItemStatus.PENDING,
                  sa.and_(items.c.status == ItemStatus.PROCESSING,
                          # a NULL token matches no row: then only an expired lease counts
                          sa.or_(items.c.lease_until < NOW,
                                 items.c.claim_token == sa.bindparam("b_token")))))
    .values(status=ItemStatus.PROCESSING, attempts=items.c.attempts + 1, started_at=NOW,
            lease_until=LEASE, updated_at=NOW, claim_token=sa.bindparam("b_token"))
    .returning(items.c.seq, items.c.job_id, items.c.item_id, items.c.file_id,
               items.c.item_name, items.c.attempts, items.c.project_id)
)

# The claim's attempt number fences everything its holder writes afterwards.
OWNED = sa.and_(items.c.seq == sa.bindparam("b_seq"), items.c.status == ItemStatus.PROCESSING,
                items.c.attempts == sa.bindparam("b_attempt"))
FINISH = (
    sa.update(items).where(OWNED)
    .values(status=sa.bindparam("b_status"), error_message=sa.bindparam("b_error"),
            skip_reason=sa.bindparam("b_skip"), result_id=sa.bindparam("b_result"),
            completed_at=NOW, lease_until=None, updated_at=NOW)
)
# updated_at is left as it is (naming it keeps the column's onupdate default out).
RENEW = sa.update(items).where(OWNED).values(lease_until=LEASE, updated_at=items.c.updated_at)

JOB = sa.select(jobs.c.job_type, jobs.c.job_config, jobs.c.parameters_hash, jobs.c.status,
                jobs.c.cacheable, jobs.c.reuses_results).where(jobs.c.id == sa.bindparam("b_job"))


def reusable_result(project_id: Any, job_id: Any) -> Any:
    """The dedup decision, once for both databases: the newest cacheable result of the same
    bytes, job type and parameters in the project, when the job reuses results at all."""
    return (sa.select(results.c.id)
            .where(results.c.project_id == project_id, results.c.file_sha256 == files.c.sha256,
                   results.c.job_type == jobs.c.job_type,
                   results.c.parameters_hash == jobs.c.parameters_hash,
                   results.c.cacheable.is_(True), jobs.c.id == job_id,
                   jobs.c.reuses_results.is_(True))
            .order_by(results.c.processed_at.desc()).limit(1))


# The item's live file and its reusable result, for a claimed item (SQLite reads it after the
# claim; Postgres folds the same expression into the claim itself).
FILE_OF_CLAIM = (
    sa.select(files.c.size, files.c.sha256, files.c.storage_key,
              reusable_result(sa.bindparam("b_project"), sa.bindparam("b_job"))
              .scalar_subquery(), files.c.etag)
    .where(files.c.id == sa.bindparam("b_file"), files.c.deleted_at.is_(None))
)

LINEAGE_COLUMNS = ("id", "project_id", "job_id", "item_id", "file_id", "file_sha256",
                   "job_type", "parameters_hash", "output_key", "output_metadata", "cacheable",
                   "processed_at")
EARLIER_RESULT = sa.select(results.c.id).where(
    results.c.job_id == sa.bindparam("r_job_id"), results.c.item_id == sa.bindparam("r_item_id"))


def claim_params(seq: int, lease_seconds: float, token: str | None) -> dict[str, Any]:
    now = utcnow()
    return {"b_seq": seq, "b_now": now, "b_lease": now + timedelta(seconds=lease_seconds),
            "b_token": token}


def finish_params(seq: int, attempt: int, status: ItemStatus, error: str | None = None,
                  skip_reason: str | None = None, result_id: str | None = None
                  ) -> dict[str, Any]:
    return {"b_seq": seq, "b_attempt": attempt, "b_status": str(status), "b_error": error,
            "b_skip": skip_reason, "b_result": result_id, "b_now": utcnow()}


def renew_params(seq: int, attempt: int, lease_seconds: float) -> dict[str, Any]:
    return {"b_seq": seq, "b_attempt": attempt,
            "b_lease": utcnow() + timedelta(seconds=lease_seconds)}
