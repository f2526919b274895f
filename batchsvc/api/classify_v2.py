"""One-file classify jobs: ``/api/v2/classify[/{job_id}]``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy.exc import IntegrityError

from batchsvc.api.common import dump, json_body, load, project_id, query_args
from batchsvc.services import classify_v2 as service
from batchsvc.uow import read_only, unit_of_work
from schemas import classify_v2 as s

bp = Blueprint("classify_v2", __name__, url_prefix="/api/v2/classify")


@bp.post("")
def create():
    data = load(s.ClassifyV2CreateSchema(), json_body(), "body")
    try:
        view = _create(data)
    except IntegrityError:
        if not data.get("transaction_id"):
            raise
        # A concurrent request with the same transaction_id committed first: its job.
        view = _create(data)
    return dump(s.ClassifyV2JobSchema(), view)


def _create(data: dict[str, Any]) -> dict[str, Any]:
    with unit_of_work() as session:
        row = service.create(session, project_id(), data)
        return service.get(session, project_id(), row.id)


@bp.get("")
def list_jobs():
    query = query_args(s.ClassifyV2ListQuery())
    with unit_of_work() as session:
        return dump(s.ClassifyV2JobListSchema(), service.list_jobs(session, project_id(), query))


@bp.get("/<job_id>")
def get(job_id: str):
    with read_only() as session:
        return dump(s.ClassifyV2JobSchema(), service.get(session, project_id(), job_id))
