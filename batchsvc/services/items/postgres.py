"""The item store on Postgres: two statements per item on the item connection (itemdb).

The claim returns, in the same statement, the job-independent half of what the item needs:
its live file, a reusable earlier result and, when the store can read bytes inside a query,
the bytes of a file that will be parsed. The finish writes the lineage (fenced: only while the
claim is ours), the output when the store can write it inside a statement, a classified
document's evidence for its job's refinement, and the status.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from batchsvc.models import new_id
from batchsvc.services.items import itemdb, sql
from batchsvc.services.items.store import (
    Claim,
    FileInfo,
    JobCache,
    KeptEvidence,
    lineage_row,
    output_key,
    user_output,
)
from batchsvc.settings import get_settings
from batchsvc.states import ItemStatus
from batchsvc.storage import Storage, get_storage

# The bytes of a file that will be parsed: not over ``b_max``, no reusable result.
_WANTS_BYTES: sa.BindParameter[int] = sa.bindparam("b_max")


@cache
def _claim_statement(storage: Storage) -> itemdb.Compiled:
    claimed = sql.CLAIM.cte("claimed")
    reusable = sql.reusable_result(claimed.c.project_id, claimed.c.job_id).lateral("reusable")
    reader = storage.sql_reader(sql.files.c.storage_key)
    data = sa.null() if reader is None else sa.case(
        (sa.and_(sql.files.c.size <= _WANTS_BYTES, reusable.c.id.is_(None)), reader))
    return itemdb.compile_statement(sa.select(
        claimed, sql.files.c.size, sql.files.c.sha256, sql.files.c.storage_key, reusable.c.id,
        data, sql.files.c.etag
    ).select_from(
        claimed.outerjoin(sql.files, sa.and_(sql.files.c.id == claimed.c.file_id,
                                             sql.files.c.deleted_at.is_(None)))
        .outerjoin(reusable, sa.true())))


@cache
def _finish_with_lineage(writer: Any, evidence: bool) -> itemdb.Compiled:
    """Insert the lineage unless the item has one, while the claim is ours; then the finish
    with the lineage that exists; returns (result_id, whether ours was inserted). With
    ``writer`` (Storage.sql_writer) the same statement also writes the output; with
    ``evidence``, the classified document's vector beside our lineage."""
    owned = sa.select(*(sa.bindparam(f"r_{name}", type_=sql.results.c[name].type)
                        for name in sql.LINEAGE_COLUMNS)).where(sa.exists().where(sql.OWNED))
    lineage = postgresql.insert(sql.results).from_select(sql.LINEAGE_COLUMNS, owned) \
        .on_conflict_do_nothing(index_elements=["job_id", "item_id"]) \
        .returning(sql.results.c.id).cte("lineage")
    ours = sa.select(lineage.c.id).scalar_subquery()
    finish = sql.FINISH.values(result_id=sa.func.coalesce(ours, sql.EARLIER_RESULT
                                                          .scalar_subquery()))
    if writer is not None:
        finish = finish.add_cte(writer.cte("output"))
    if evidence:
        kept = sa.select(lineage.c.id, sa.bindparam("r_job_id", type_=sa.String),
                         sa.bindparam("e_vector", type_=sa.LargeBinary),
                         sa.bindparam("e_matched", type_=sa.Boolean))
        finish = finish.add_cte(postgresql.insert(sql.evidence).from_select(
            ["result_id", "job_id", "vector", "matched"], kept)
            .on_conflict_do_nothing().cte("evidence"))
    return itemdb.compile_statement(finish.add_cte(lineage).returning(
        sql.items.c.result_id, sa.exists(sa.select(lineage.c.id))))


@cache
def _compiled(statement: Any) -> itemdb.Compiled:
    return itemdb.compile_statement(statement)


class PostgresItemStore:
    def __init__(self) -> None:
        self.jobs = JobCache()

    def claim(self, seq: int, token: str | None) -> Claim | None:
        settings = get_settings()
        row = itemdb.execute(_claim_statement(get_storage()), {
            **sql.claim_params(seq, settings.item_lease_seconds, token),
            "b_max": settings.max_item_bytes}).fetchone()
        if row is None:
            return None
        seq, job_id, item_id, file_id, name, attempt, project_id = row[:7]
        job, starts = self.jobs.get(job_id, lambda: itemdb.execute(
            _compiled(sql.JOB), {"b_job": job_id}).fetchone())
        size, sha256, key, reusable, data, etag = row[7:]
        file = None if size is None else FileInfo(size, sha256, key, reusable, data, etag)
        return Claim(seq, job_id, item_id, file_id, name, attempt, project_id, job, file, starts)

    def finish(self, claim: Claim, status: ItemStatus, *, error: str | None = None,
               skip_reason: str | None = None, result_id: str | None = None) -> bool:
        return bool(itemdb.execute(_compiled(sql.FINISH), sql.finish_params(
            claim.seq, claim.attempt, status, error, skip_reason, result_id)).rowcount)

    def store_result(self, claim: Claim, output: bytes, summary: dict[str, Any],
                     evidence: KeptEvidence | None = None) -> str | None:
        result_id = new_id("res-")
        storage = get_storage()
        # The user's object when the job names an output prefix: lineage points at it.
        mine = user_output(claim)
        key = mine or storage.ref(output_key(claim, result_id))
        writer = None if mine else storage.sql_writer(len(output))
        if writer is None:
            storage.put_bytes(key, output)
        lineage = lineage_row(claim, result_id, key, json.dumps(summary))
        row = itemdb.execute(_finish_with_lineage(writer, evidence is not None), {
            **{f"r_{name}": value for name, value in lineage.items()},
            **sql.finish_params(claim.seq, claim.attempt, ItemStatus.COMPLETED),
            "blob_key": key, "blob_data": output,
            **({} if evidence is None else {"e_vector": evidence.vector,
                                            "e_matched": evidence.matched}),
        }).fetchone()
        if (row is None or not row[1]) and not mine:
            # The claim was lost (no row) or an earlier run's lineage won: ours is orphaned
            # (a user's object has one name per item: the winner's, kept).
            storage.delete(key)
        return None if row is None else row[0]

    def renew(self, seq: int, attempt: int) -> bool:
        params = sql.renew_params(seq, attempt, get_settings().item_lease_seconds)
        return bool(itemdb.execute(_compiled(sql.RENEW), params, role="heartbeat").rowcount)

    def read_file(self, claim: Claim) -> bytes:
        assert claim.file is not None
        if claim.file.data is not None:
            return claim.file.data
        return get_storage().get_bytes(claim.file.storage_key, etag=claim.file.etag)
