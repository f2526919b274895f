"""/api/v1/beta/files"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from batchsvc.api.common import (
    dump,
    json_body,
    links_base,
    load,
    project_id,
    query_args,
    upload_name,
)
from batchsvc.errors import Invalid
from batchsvc.models import StoredFile
from batchsvc.services import files as service
from batchsvc.storage import get_storage
from batchsvc.uow import read_only, unit_of_work
from schemas import files as s

bp = Blueprint("files", __name__, url_prefix="/api/v1/beta/files")
# The signed download URL is the credential, so this blueprint is outside key auth.
download_bp = Blueprint("downloads", __name__, url_prefix="/api/v1/beta/files")


@bp.post("")
def create():
    upload = request.files.get("file")
    if upload is None:
        raise Invalid(["body", "file"], "a multipart file part named file is required")
    form = load(s.FileCreateForm(), request.form.to_dict(), "body")
    with unit_of_work() as session:
        row = service.store_upload(session, project_id(), upload_name(upload.filename),
                                   upload.stream, purpose=form["purpose"],
                                   external_file_id=form.get("external_file_id"))
        return dump(s.FileSchema(), service.file_view(row))


@bp.get("")
def list_files():
    query = query_args(s.FileListQuery())
    with unit_of_work() as session:
        return dump(s.FileListSchema(), service.list_files(session, project_id(), query,
                                                           links_base(query)))


@bp.post("/query")
def query_files():
    body = load(s.FileQuerySchema(), json_body(), "body")
    wanted = body.get("filter") or {}
    query = {**{k: wanted.get(k) for k in ("file_name", "external_file_id", "file_ids",
                                          "data_source_id")},
             "in_project": wanted.get("project_id"), "order_by": body.get("order_by"),
             "page_size": body.get("page_size"), "page_token": body.get("page_token")}
    with unit_of_work() as session:
        return dump(s.FileListSchema(), service.list_files(
            session, project_id(), query, loc="body"))


@bp.get("/<file_id>")
def get(file_id: str):
    with read_only() as session:
        return dump(s.FileSchema(), service.file_view(
            service.get_file(session, project_id(), file_id)))


@bp.delete("/<file_id>")
def delete(file_id: str):
    with unit_of_work() as session:
        service.delete_file(session, project_id(), file_id)
    return "", 204


@bp.get("/<file_id>/content")
def content(file_id: str):
    query = load(s.FileContentQuery(), request.args.to_dict(), "query")
    with unit_of_work() as session:
        row = service.get_file(session, project_id(), file_id)
        return dump(s.PresignedUrlSchema(), service.presigned_url(
            request.host_url, row, query.get("expires_at_seconds") or 3600))


@download_bp.get("/<file_id>/download")
def download(file_id: str):
    if not service.check_download(file_id, request.args.get("expires"),
                                  request.args.get("signature")):
        abort(403, description="the download link is invalid or has expired")
    with unit_of_work() as session:
        row = session.get(StoredFile, file_id)
        if row is None or row.deleted_at is not None:
            abort(404, description=f"file {file_id} not found")
        key, name, size = row.storage_key, row.name, row.size
    return Response(get_storage().iter_chunks(key), mimetype="application/octet-stream",
                    headers={"Content-Length": str(size),
                             "Content-Disposition": f"attachment; filename*=UTF-8''"
                                                    f"{_quote(name)}"})


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
