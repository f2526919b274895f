"""The item store on SQLite (the embedded mode): the statements of ``items.sql`` in short
transactions on the ORM's connection pool."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import CursorResult

from batchsvc.models import new_id
from batchsvc.services.items import sql
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
from batchsvc.storage import get_storage
from batchsvc.uow import unit_of_work

# The lineage unless the item has one already (a run that died after writing it).
INSERT_LINEAGE = sqlite.insert(sql.results).on_conflict_do_nothing(
    index_elements=["job_id", "item_id"]).returning(sql.results.c.id)


class SqliteItemStore:
    def __init__(self) -> None:
        self.jobs = JobCache()

    def claim(self, seq: int, token: str | None) -> Claim | None:
        settings = get_settings()
        with unit_of_work() as session:
            row = session.execute(sql.CLAIM, sql.claim_params(
                seq, settings.item_lease_seconds, token)).first()
            if row is None:
                return None
            job, starts = self.jobs.get(row.job_id, lambda: session.execute(
                sql.JOB, {"b_job": row.job_id}).one())
            found = None if row.file_id is None else session.execute(sql.FILE_OF_CLAIM, {
                "b_file": row.file_id, "b_project": row.project_id,
                "b_job": row.job_id}).first()
        file = None if found is None else FileInfo(found[0], found[1], found[2], found[3],
                                                   etag=found[4])
        return Claim(row.seq, row.job_id, row.item_id, row.file_id, row.item_name,
                     row.attempts, row.project_id, job, file, starts)

    def finish(self, claim: Claim, status: ItemStatus, *, error: str | None = None,
               skip_reason: str | None = None, result_id: str | None = None) -> bool:
        with unit_of_work() as session:
            return _rows(session.execute(sql.FINISH, sql.finish_params(
                claim.seq, claim.attempt, status, error, skip_reason, result_id)))

    def store_result(self, claim: Claim, output: bytes, summary: dict[str, Any],
                     evidence: KeptEvidence | None = None) -> str | None:
        assert claim.file is not None
        result_id = new_id("res-")
        storage = get_storage()
        mine = user_output(claim)
        key = mine or storage.ref(output_key(claim, result_id))
        with unit_of_work() as session:
            # One transaction: nothing of ours is kept unless the claim is still ours.
            if not _rows(session.execute(sql.FINISH, sql.finish_params(
                    claim.seq, claim.attempt, ItemStatus.COMPLETED, result_id=result_id))):
                return None
            storage.put_bytes(key, output, connection=session.connection())
            lineage = lineage_row(claim, result_id, key, summary)
            if session.execute(INSERT_LINEAGE, lineage).scalar() is None:
                if not mine:
                    storage.delete(key, connection=session.connection())
                earlier = session.scalar(sql.EARLIER_RESULT, {
                    "r_job_id": claim.job_id, "r_item_id": claim.item_id})
                session.execute(sa.update(sql.items).where(sql.items.c.seq == claim.seq)
                                .values(result_id=earlier))
                return earlier
            if evidence is not None:
                session.execute(sa.insert(sql.evidence).values(
                    result_id=result_id, job_id=claim.job_id, vector=evidence.vector,
                    matched=evidence.matched))
        return result_id

    def renew(self, seq: int, attempt: int) -> bool:
        params = sql.renew_params(seq, attempt, get_settings().item_lease_seconds)
        with unit_of_work() as session:
            return _rows(session.execute(sql.RENEW, params))

    def read_file(self, claim: Claim) -> bytes:
        assert claim.file is not None
        return get_storage().get_bytes(claim.file.storage_key, etag=claim.file.etag)


def _rows(result: Any) -> bool:
    return bool(cast(CursorResult[Any], result).rowcount)
