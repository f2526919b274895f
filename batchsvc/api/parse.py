"""One-file parse jobs: ``POST /api/v2/parse`` (JSON), ``POST /api/v2/parse/upload``
(multipart) and ``GET /api/v2/parse``. Results are served by ``api/results``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from batchsvc.api.common import json_body, load, project_id, query_args, upload_name
from batchsvc.api.edge import decode_json
from batchsvc.errors import Invalid
from batchsvc.services import parse_jobs as service
from batchsvc.uow import unit_of_work
from schemas import parse_v2 as s

bp = Blueprint("parse", __name__, url_prefix="/api/v2/parse")


@bp.post("")
def create():
    data = load(s.ParseCreateSchema(), json_body(), "body")
    with unit_of_work() as session:
        item, job = service.create_parse(session, project_id(), data)
        return _iso(service.job_view(item, job))


@bp.post("/upload")
def upload():
    part = request.files.get("file")
    if part is None:
        raise Invalid(["body", "file"], "a multipart file part named file is required")
    raw = request.form.get("configuration")
    if raw is None:
        raise Invalid(["body", "configuration"], "a form field configuration (a JSON object "
                      "with tier and version) is required")
    configuration = decode_json(raw.encode())
    if not isinstance(configuration, dict):
        raise Invalid(["body", "configuration"], "must be a JSON object")
    data = load(s.ParseConfigurationSchema(), configuration, "configuration")
    if data.get("source_url"):
        raise Invalid(["configuration", "source_url"], "give an uploaded file or a "
                      "source_url, not both")
    with unit_of_work() as session:
        stored = service.store_upload(session, project_id(), upload_name(part.filename),
                                      part.stream)
        item, job = service.create_parse(session, project_id(), data, "configuration",
                                         upload=stored)
        return _iso(service.job_view(item, job))


@bp.get("")
def list_jobs():
    query = query_args(s.ParseListQuery())
    with unit_of_work() as session:
        page = service.list_parse_jobs(session, project_id(), query)
    page["items"] = [_iso(v) for v in page["items"]]
    return page


def _iso(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in view.items()}
