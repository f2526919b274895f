"""Directories: list, create, upload files, and start a parse or classify batch over one."""

from __future__ import annotations

from typing import Any

from flask import jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from batchsvc.errors import Invalid
from batchsvc.services import batches as batch_service
from batchsvc.services import directories as service
from batchsvc.services.files import upload_name
from batchsvc.ui.blueprint import bp, project_id, wants_json
from batchsvc.ui.forms import PAGE, load, query
from batchsvc.uow import unit_of_work
from schemas import directories as s
from schemas.batch import BatchCreateSchema

# The parse options the start form offers, by kind of control; the API takes ~150 more.
PARSE_FLAGS = ("output_tables_as_HTML", "disable_ocr", "hide_headers", "hide_footers",
               "invalidate_cache")
PARSE_TEXTS = ("target_pages", "page_separator")
MODES = ("FAST", "MULTIMODAL")


@bp.get("/directories")
def directory_list() -> str:
    args = query(s.DirectoryListQuery(), page_size=PAGE)
    with unit_of_work() as db:
        page = service.list_directories(db, project_id(), args)
    return render_template("directories.html", directories=page["items"],
                           next_token=page["next_page_token"])


@bp.post("/directories")
def create_directory() -> Response:
    data = load(s.DirectoryCreateSchema(), {
        "name": request.form.get("name", "").strip(),
        "description": request.form.get("description") or None}, "body")
    with unit_of_work() as db:
        directory_id = service.create_directory(db, project_id(), data).id
    return redirect(url_for("ui.directory", directory_id=directory_id), code=303)


@bp.get("/directories/<directory_id>")
def directory(directory_id: str) -> str:
    args = query(s.DirectoryFileListQuery(), page_size=PAGE)
    with unit_of_work() as db:
        row = service.directory_view(service.get_directory(db, project_id(), directory_id))
        files = service.list_directory_files(db, project_id(), directory_id, args)
        batches = batch_service.list_batches(db, project_id(), {
            "directory_id": directory_id, "offset": 0, "limit": 10})
    return render_template("directory.html", directory=row, files=files["items"],
                           next_token=files["next_page_token"], batches=batches["items"],
                           flags=PARSE_FLAGS, modes=MODES)


@bp.post("/directories/<directory_id>/files")
def upload(directory_id: str) -> Response:
    """Each part named upload_file becomes a file of the directory (the script sends one
    file per request, to show each file's progress)."""
    parts = request.files.getlist("upload_file")
    if not parts:
        raise Invalid(["body", "upload_file"], "choose at least one file to upload")
    with unit_of_work() as db:
        rows = [service.directory_file_view(service.upload_file(
            db, project_id(), directory_id, upload_name(part.filename), part.stream, {}))
            for part in parts]
    if wants_json():
        return jsonify({"items": [{"id": r["id"], "display_name": r["display_name"]}
                                  for r in rows]})
    return redirect(url_for("ui.directory", directory_id=directory_id), code=303)


def _parse_config(form: Any) -> dict[str, Any]:
    params: dict[str, Any] = {flag: True for flag in PARSE_FLAGS if form.get(flag) == "on"}
    for name in PARSE_TEXTS:
        if form.get(name):
            params[name] = form[name]
    if form.get("max_pages"):
        raw = form["max_pages"].strip()
        # A number goes through as one; anything else reaches the schema, which names it.
        params["max_pages"] = int(raw) if raw.isdigit() else raw
    if form.get("languages", "").strip():
        params["languages"] = [x.strip() for x in form["languages"].split(",") if x.strip()]
    return {"job_name": "parse_raw_file_job", "parameters": params}


def _classify_config(form: Any) -> dict[str, Any]:
    rules = []
    for number, line in enumerate(form.get("rules", "").splitlines()):
        if not line.strip():
            continue
        kind, colon, description = line.partition(":")
        if not colon or not kind.strip() or not description.strip():
            raise Invalid(["body", "rules", number + 1],
                          f"line {number + 1}: write each rule as 'type: description'")
        rules.append({"type": kind.strip(), "description": description.strip()})
    if not rules:
        raise Invalid(["body", "rules"], "type at least one rule, as 'type: description'")
    return {"rules": rules, "mode": form.get("mode") or "FAST"}


@bp.post("/directories/<directory_id>/batches")
def start_batch(directory_id: str) -> Response:
    form = request.form
    kind = form.get("kind")
    if kind not in ("parse", "classify"):
        raise Invalid(["body", "kind"], "must be parse or classify")
    config = _parse_config(form) if kind == "parse" else _classify_config(form)
    data = load(BatchCreateSchema(), {"directory_id": directory_id, "job_config": config},
                "body")
    with unit_of_work() as db:
        job, _ = batch_service.create_batch(db, project_id(), data)
        job_id = job.id
    return redirect(url_for("ui.batch", job_id=job_id), code=303)
