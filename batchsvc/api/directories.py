"""/api/v1/beta/directories and their files"""

from __future__ import annotations

from flask import Blueprint, request

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
from batchsvc.services import directories as service
from batchsvc.services import imports
from batchsvc.uow import unit_of_work
from schemas import directories as s

bp = Blueprint("directories", __name__, url_prefix="/api/v1/beta/directories")


@bp.post("")
def create():
    data = load(s.DirectoryCreateSchema(), json_body(), "body")
    with unit_of_work() as session:
        row = service.create_directory(session, project_id(), data)
        return dump(s.DirectorySchema(), service.directory_view(row))


@bp.get("")
def list_directories():
    query = query_args(s.DirectoryListQuery())
    with unit_of_work() as session:
        return dump(s.DirectoryListSchema(),
                    service.list_directories(session, project_id(), query))


@bp.get("/<directory_id>")
def get(directory_id: str):
    with unit_of_work() as session:
        row = service.get_directory(session, project_id(), directory_id)
        return dump(s.DirectorySchema(), service.directory_view(row))


@bp.patch("/<directory_id>")
def update(directory_id: str):
    data = load(s.DirectoryUpdateSchema(), json_body(), "body")
    with unit_of_work() as session:
        row = service.update_directory(session, project_id(), directory_id, data)
        return dump(s.DirectorySchema(), service.directory_view(row))


@bp.delete("/<directory_id>")
def delete(directory_id: str):
    with unit_of_work() as session:
        service.delete_directory(session, project_id(), directory_id)
    return "", 204


@bp.post("/<directory_id>/files")
def add_file(directory_id: str):
    data = load(s.DirectoryFileAddSchema(), json_body(), "body")
    with unit_of_work() as session:
        row = service.add_file(session, project_id(), directory_id, data)
        return dump(s.DirectoryFileSchema(), service.directory_file_view(row))


@bp.post("/<directory_id>/files/upload")
def upload(directory_id: str):
    upload_file = request.files.get("upload_file")
    if upload_file is None:
        raise Invalid(["body", "upload_file"], "a multipart file part named upload_file is "
                      "required")
    form = load(s.DirectoryFileUploadForm(), request.form.to_dict(), "body")
    name = upload_name(upload_file.filename)
    with unit_of_work() as session:
        row = service.upload_file(session, project_id(), directory_id, name,
                                  upload_file.stream, form)
        return dump(s.DirectoryFileSchema(), service.directory_file_view(row))


@bp.get("/<directory_id>/files")
def list_files(directory_id: str):
    query = query_args(s.DirectoryFileListQuery())
    with unit_of_work() as session:
        return dump(s.DirectoryFileListSchema(), service.list_directory_files(
            session, project_id(), directory_id, query, links_base(query)))


@bp.get("/<directory_id>/files/<directory_file_id>")
def get_file(directory_id: str, directory_file_id: str):
    query = query_args(s.DirectoryFileGetQuery())
    with unit_of_work() as session:
        row = service.get_directory_file(session, project_id(), directory_id, directory_file_id)
        (view,) = service.directory_file_views(session, [row], links_base(query))
        return dump(s.DirectoryFileSchema(), view)


@bp.patch("/<directory_id>/files/<directory_file_id>")
def update_file(directory_id: str, directory_file_id: str):
    data = load(s.DirectoryFileUpdateSchema(), json_body(), "body")
    with unit_of_work() as session:
        row = service.update_directory_file(
            session, project_id(), directory_id, directory_file_id, data)
        return dump(s.DirectoryFileSchema(), service.directory_file_view(row))


@bp.delete("/<directory_id>/files/<directory_file_id>")
def delete_file(directory_id: str, directory_file_id: str):
    with unit_of_work() as session:
        service.delete_directory_file(session, project_id(), directory_id, directory_file_id)
    return "", 204


@bp.post("/<directory_id>/imports")
def start_import(directory_id: str):
    data = load(s.S3ImportCreateSchema(), json_body(), "body")
    source = imports.parse_source(data["s3_path"], ["body", "s3_path"])
    with unit_of_work() as session:
        row = imports.start_import(session, project_id(), directory_id, source,
                                   data.get("region"))
        return dump(s.S3ImportSchema(), imports.import_view(row)), 202


@bp.get("/<directory_id>/imports/<import_id>")
def get_import(directory_id: str, import_id: str):
    with unit_of_work() as session:
        row = imports.get_import(session, project_id(), directory_id, import_id)
        return dump(s.S3ImportSchema(), imports.import_view(row))
