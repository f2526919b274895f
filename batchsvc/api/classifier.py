"""The classifier jobs API: ``/api/v1/classifier/jobs[/{id}[/results]]``."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy.orm import Session

from batchsvc.api.common import json_body, load, project_id, query_args
from batchsvc.errors import NotFound
from batchsvc.models import ClassifierJob
from batchsvc.services import classifier as classifier_service
from batchsvc.uow import unit_of_work
from schemas import classifier as s

bp = Blueprint("classifier", __name__)


@bp.post("/api/v1/classifier/jobs")
def create_classifier_job():
    data = load(s.ClassifierJobCreateSchema(), json_body(), "body")
    with unit_of_work() as session:
        job = classifier_service.create_job(session, project_id(), data)
        view = classifier_service.job_view(session, job)
    return s.ClassifyJobSchema().dump(view)


@bp.get("/api/v1/classifier/jobs")
def list_classifier_jobs():
    query = query_args(s.ClassifierJobListQuery())
    with unit_of_work() as session:
        return s.ClassifierJobListSchema().dump(
            classifier_service.list_jobs(session, project_id(), query))


@bp.get("/api/v1/classifier/jobs/<job_id>")
def get_classifier_job(job_id: str):
    with unit_of_work() as session:
        job = _classifier_job(session, job_id)
        return s.ClassifyJobSchema().dump(classifier_service.job_view(session, job))


@bp.get("/api/v1/classifier/jobs/<job_id>/results")
def classifier_results(job_id: str):
    query = query_args(s.ClassifierResultsQuery())
    with unit_of_work() as session:
        job = _classifier_job(session, job_id)
        return s.ClassifierResultsSchema().dump(
            classifier_service.results(session, job, query))


def _classifier_job(session: Session, job_id: str) -> ClassifierJob:
    job = session.get(ClassifierJob, job_id)
    if job is None or job.project_id != project_id():
        raise NotFound(f"classifier job {job_id} not found")
    return job
