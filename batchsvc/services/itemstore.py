"""The item task's database work, lean: two statements on Postgres, no waits for fsync.

Profiling a worker on tiny documents (bench/orchestration.py --profile) showed the item task
waiting on Postgres most of the time: five transactions, three synchronous commits (a WAL
fsync each) and about 34 round trips per item, and spending more CPU building SQLAlchemy
statements than running them. Here, on Postgres, an item runs on a connection of its own
(itemdb): autocommit (no BEGIN/COMMIT round trips), asynchronous commit (see
``item_synchronous_commit``), no pre-ping (a dropped connection fails the statement and the
task retries). The claim comes back from one statement with the file, a reusable result and,
from the database store, the bytes; one more statement writes the output (when it fits one
chunk), the lineage and the final status. Statements are built and compiled once; the job
config is cached per process. Each write leaves a state a redelivered task can finish from.
SQLite (embedded) runs the same steps as separate statements in transactions.

Asynchronous commit means a database crash may lose the last fraction of a second of item
updates: those items fall back to pending/processing with a lease and the sweeper runs them
again. Job-level commits stay synchronous, and a synchronous commit flushes all WAL before it,
so a finalised job never rests on a lost item row.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from batchsvc import storage as storage_mod
from batchsvc.db import session_scope
from batchsvc.models import BatchJob, JobItem, ProcessingResult, StoredFile, new_id, utcnow
from batchsvc.services import itemdb, pipeline
from batchsvc.settings import get_settings
from batchsvc.storage import get_storage

# Jobs this process has recently worked for; a config is immutable once the job exists.
JOB_CACHE_SIZE = 256


@dataclass(frozen=True)
class JobInfo:
    job_type: str
    config: dict[str, Any]
    params_hash: str
    retried: bool

    @property
    def params(self) -> dict[str, Any]:
        return self.config.get("parameters") or {}

    @property
    def cacheable(self) -> bool:
        """May reuse earlier results and be reused: neither invalidate_cache nor do_not_cache."""
        return not (self.params.get("invalidate_cache") or self.params.get("do_not_cache"))

    @property
    def reuses_results(self) -> bool:
        # A retry re-runs its items even where an identical file was processed before.
        return self.cacheable and not self.retried


@dataclass(frozen=True)
class FileInfo:
    size: int
    sha256: str
    storage_key: str
    # The newest reusable result for the same bytes and parameters (dedup), if looked up.
    cached_result_id: str | None
    # The bytes, when the claim could read them in the same query.
    data: bytes | None = None


_jobs: OrderedDict[str, JobInfo] = OrderedDict()


_JOB = sa.select(BatchJob.job_type, BatchJob.job_config, BatchJob.parameters_hash,
                 BatchJob.status, BatchJob.retry_of).where(BatchJob.id == sa.bindparam("b_job"))


def job_info(job_id: str, session: Session | None = None) -> JobInfo:
    """The job's config, read once per process; the first sight also moves it to running.

    ``session``: SQLite's item transaction, which holds the write lock (a second transaction
    would wait on it); on Postgres the state change and its webhook row commit on their own,
    atomic and durable, not on the autocommit item connection."""
    info = _jobs.get(job_id)
    if info is not None:
        _jobs.move_to_end(job_id)
        return info
    with nullcontext(session) if session is not None else session_scope() as job_session:
        row = job_session.execute(_JOB, {"b_job": job_id}).one()
        if row.status == "dispatched":
            pipeline.mark_running(job_session, job_id)
    info = JobInfo(row.job_type, row.job_config, row.parameters_hash, row.retry_of is not None)
    _jobs[job_id] = info
    if len(_jobs) > JOB_CACHE_SIZE:
        _jobs.popitem(last=False)
    return info


# Built once with bound parameters: building a statement costs more CPU than running it.
_files = cast(sa.Table, StoredFile.__table__)
_items = cast(sa.Table, JobItem.__table__)
_results = cast(sa.Table, ProcessingResult.__table__)
_FILE = sa.select(_files.c.size, _files.c.sha256, _files.c.storage_key).where(
    _files.c.id == sa.bindparam("b_file"), _files.c.deleted_at.is_(None))
_FILE_AND_REUSABLE = _FILE.add_columns(
    sa.select(_results.c.id).where(
        _results.c.project_id == sa.bindparam("b_project"),
        _results.c.file_sha256 == _files.c.sha256,
        _results.c.job_type == sa.bindparam("b_type"),
        _results.c.parameters_hash == sa.bindparam("b_hash"),
        _results.c.cacheable.is_(True))
    .order_by(_results.c.processed_at.desc()).limit(1).scalar_subquery())
_EXISTING_RESULT = sa.select(_results.c.id).where(
    _results.c.job_id == sa.bindparam("b_job"), _results.c.item_id == sa.bindparam("b_item"))


# SQLite: the lineage unless the item has one (Postgres folds this into the finish).
_INSERT_RESULT = sqlite.insert(_results).on_conflict_do_nothing(
    index_elements=["job_id", "item_id"]).returning(_results.c.id)


@cache
def _claim_with_file(read_bytes: bool) -> itemdb.Compiled:
    """Postgres: pipeline's claim, its live file and the newest reusable result, one query.

    With ``read_bytes`` (database store) also the file's bytes, unless the file is over
    ``b_max`` bytes or a reusable result exists: the item would not be parsed."""
    claimed = pipeline.CLAIM.cte("claimed")
    jobs = cast(sa.Table, BatchJob.__table__)
    reusable = sa.select(_results.c.id).where(
        _results.c.project_id == claimed.c.project_id, _results.c.file_sha256 == _files.c.sha256,
        _results.c.job_type == jobs.c.job_type,
        _results.c.parameters_hash == jobs.c.parameters_hash,
        _results.c.cacheable.is_(True)).order_by(_results.c.processed_at.desc()).limit(1) \
        .lateral("reusable")
    data = sa.case((sa.and_(_files.c.size <= sa.bindparam("b_max"), reusable.c.id.is_(None)),
                    storage_mod.read_expression(_files.c.storage_key))) if read_bytes \
        else sa.null()
    return itemdb.compile_statement(sa.select(
        claimed, _files.c.size, _files.c.sha256, _files.c.storage_key, reusable.c.id, data
    ).select_from(
        claimed.join(jobs, jobs.c.id == claimed.c.job_id).outerjoin(
            _files, sa.and_(_files.c.id == claimed.c.file_id, _files.c.deleted_at.is_(None)))
        .outerjoin(reusable, sa.true())))


@cache
def _finish_with_lineage(output_insert: Any) -> itemdb.Compiled:
    """Postgres: insert the lineage unless the item has one, then pipeline's finish with the
    lineage that exists; returns (result_id, whether ours was inserted). One statement, which
    also writes the output when ``output_insert`` (storage.inline_insert) is given."""
    columns = ("id", "project_id", "job_id", "item_id", "file_id", "file_sha256", "job_type",
               "parameters_hash", "output_key", "output_metadata", "cacheable", "processed_at")
    # Only while the claim is still ours (pipeline.OWNED): a holder that lost it writes none.
    owned = sa.select(*(sa.bindparam(f"r_{name}", type_=_results.c[name].type)
                        for name in columns)).where(sa.exists().where(pipeline.OWNED))
    lineage = postgresql.insert(_results).from_select(columns, owned) \
        .on_conflict_do_nothing(index_elements=["job_id", "item_id"]) \
        .returning(_results.c.id).cte("lineage")
    earlier = sa.select(_results.c.id).where(
        _results.c.job_id == sa.bindparam("r_job_id"),
        _results.c.item_id == sa.bindparam("r_item_id")).scalar_subquery()
    ours = sa.select(lineage.c.id).scalar_subquery()
    finish = pipeline.FINISH.values(result_id=sa.func.coalesce(ours, earlier))
    if output_insert is not None:
        finish = finish.add_cte(output_insert.cte("output"))
    return itemdb.compile_statement(finish.add_cte(lineage).returning(
        _items.c.result_id, sa.exists(sa.select(lineage.c.id))))


@cache
def _finish() -> itemdb.Compiled:
    return itemdb.compile_statement(pipeline.FINISH)


ClaimOutcome = tuple[pipeline.ClaimedItem, JobInfo, FileInfo | None]


def claim(seq: int, lease_seconds: int, token: str | None, max_bytes: int
          ) -> ClaimOutcome | None:
    """Claim the item (see pipeline.claim_item) and read its job and live file, with a
    reusable earlier result when the job reuses results (and, on Postgres with the database
    store, the bytes of a file that will be parsed); None when another owns the item."""
    if not get_settings().is_postgres:
        with session_scope() as session:
            found = pipeline.claim_item(session, seq, lease_seconds, token)
            if found is None:
                return None
            job = job_info(found.job_id, session)
            return found, job, _file_info(session, found, job)
    in_db = isinstance(get_storage(), storage_mod.DatabaseStorage)
    row = itemdb.execute(_claim_with_file(in_db), {
        **pipeline.claim_params(seq, lease_seconds, token), "b_max": max_bytes}).fetchone()
    if row is None:
        return None
    item = pipeline.ClaimedItem(*row[:7])
    job = job_info(item.job_id)
    size, sha256, key, reusable, data = row[7:]
    stored = None if size is None else FileInfo(
        size, sha256, key, reusable if job.reuses_results else None, data)
    return item, job, stored


def _file_info(session: Session, claim: pipeline.ClaimedItem, job: JobInfo) -> FileInfo | None:
    if claim.file_id is None:
        return None
    if not job.reuses_results:
        row = session.execute(_FILE, {"b_file": claim.file_id}).first()
        return None if row is None else FileInfo(row[0], row[1], row[2], None)
    reuse_row = session.execute(_FILE_AND_REUSABLE, {
        "b_file": claim.file_id, "b_project": claim.project_id, "b_type": job.job_type,
        "b_hash": job.params_hash}).first()
    return None if reuse_row is None else FileInfo(
        reuse_row[0], reuse_row[1], reuse_row[2], reuse_row[3])


def read_file(info: FileInfo) -> bytes:
    """The file's bytes: read by the claim already, or from the store."""
    if info.data is not None:
        return info.data
    return get_storage().get_bytes(info.storage_key)


def finish(seq: int, attempt: int, status: str, *, error: str | None = None,
           skip_reason: str | None = None, result_id: str | None = None) -> bool:
    """pipeline.finish_item for the item path: processing -> a terminal status."""
    if not get_settings().is_postgres:
        with session_scope() as session:
            return pipeline.finish_item(session, seq, attempt, status, error=error,
                                        skip_reason=skip_reason, result_id=result_id)
    return bool(itemdb.execute(_finish(), pipeline.finish_params(
        seq, attempt, status, error, skip_reason, result_id)).rowcount)


def store_result(claim: pipeline.ClaimedItem, job: JobInfo, sha256: str, output: bytes,
                 summary: dict[str, Any]) -> None:
    """The output, its lineage (at most one per item per job), the item completed.

    In this order, so an interruption after any step leaves nothing a rerun cannot finish: an
    orphan output at worst. A previous run of this item that stored its lineage before dying
    wins: ours is not written and our output is removed."""
    result_id = new_id("res-")
    key = f"results/{claim.project_id}/{claim.job_id}/{result_id}.json"
    storage = get_storage()
    lineage = {
        "id": result_id, "project_id": claim.project_id, "job_id": claim.job_id,
        "item_id": claim.item_id, "file_id": claim.file_id, "file_sha256": sha256,
        "job_type": job.job_type, "parameters_hash": job.params_hash, "output_key": key,
        "output_metadata": summary, "cacheable": job.cacheable, "processed_at": utcnow()}
    if not get_settings().is_postgres:
        with session_scope() as session:
            # One transaction: nothing of ours is kept unless the claim is still ours.
            if not pipeline.finish_item(session, claim.seq, claim.attempts, "completed",
                                        result_id=result_id):
                return
            storage.put_bytes(key, output, connection=session.connection())
            if session.execute(_INSERT_RESULT, lineage).scalar() is None:
                storage.delete(key, connection=session.connection())
                earlier = session.scalar(_EXISTING_RESULT, {"b_job": claim.job_id,
                                                            "b_item": claim.item_id})
                session.execute(sa.update(JobItem).where(JobItem.seq == claim.seq)
                                .values(result_id=earlier))
        return
    inline = storage_mod.inline_insert(storage, len(output))
    if inline is None:
        storage.put_bytes(key, output)
    lineage["output_metadata"] = json.dumps(summary)
    row = itemdb.execute(_finish_with_lineage(inline), {
        **{f"r_{name}": value for name, value in lineage.items()},
        **pipeline.finish_params(claim.seq, claim.attempts, "completed"), "blob_key": key,
        "blob_data": output,
    }).fetchone()
    if row is None or not row[1]:
        # The claim was lost (no row) or an earlier run's lineage won: our output is orphaned.
        storage.delete(key)
