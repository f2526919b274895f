"""``/api/parsing``: the v1 routes of the ``llama-parse`` client (``LlamaParse``), and the same
under ``/api/v1/parsing``, where its ``JobResult`` (``parser.parse(...)``) reads them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from marshmallow import fields

from batchsvc.api.common import load, project_id, upload_name
from batchsvc.api.edge import decode_json
from batchsvc.errors import Invalid
from batchsvc.services import parse_jobs
from batchsvc.services import parsing_v1 as service
from batchsvc.uow import unit_of_work
from schemas.parse_params import ParseParametersSchema

bp = Blueprint("parsing_v1", __name__, url_prefix="/api/parsing")
prefixed_bp = Blueprint("parsing_v1_prefixed", __name__, url_prefix="/api/v1/parsing")


def _route(rule: str, **options: Any) -> Any:
    """Register a view on both prefixes."""
    def register(view: Any) -> Any:
        bp.route(rule, **options)(view)
        prefixed_bp.route(rule, **options)(view)
        return view
    return register
# Form fields the client sends that are not parse options.
CLIENT_FIELDS = ("from_python_package",)


def form_parameters(form: dict[str, Any]) -> dict[str, Any]:
    """The upload's form fields as typed parse parameters; 422 naming a bad field."""
    raw = {k: v for k, v in form.items() if k not in CLIENT_FIELDS}
    if "language" in raw:
        # The client sends one ``language`` (default "en"); the engine reads ``languages``.
        languages = [x.strip() for x in str(raw.pop("language")).split(",") if x.strip()]
        raw.setdefault("languages", languages)
    schema = ParseParametersSchema()
    return load(schema, {k: _typed(schema.fields.get(k), v) for k, v in raw.items()}, "body")


def _typed(field: fields.Field | None, value: Any) -> Any:
    """A form value (always text) as the JSON value the schema types: numbers for number
    fields, JSON for objects and lists (a list may also be comma separated). A value that
    does not convert is passed on for the schema to name."""
    if not isinstance(value, str) or field is None:
        return value
    try:
        if isinstance(field, fields.Integer):
            return int(value)
        if isinstance(field, fields.Float):
            return float(value)
        if isinstance(field, fields.List | fields.Nested | fields.Dict):
            if value.lstrip()[:1] in ("[", "{"):
                return decode_json(value.encode())
            if isinstance(field, fields.List):
                return [x.strip() for x in value.split(",") if x.strip()]
    except (ValueError, Invalid):
        return value
    return value


@_route("/upload", methods=["POST"])
def upload():
    params = form_parameters(request.form.to_dict())
    part = request.files.get("file")
    if part is None and not params.get("input_url"):
        raise Invalid(["body", "file"], "a multipart file part named file (or an input_url) "
                      "is required")
    with unit_of_work() as session:
        stored = None if part is None else parse_jobs.store_upload(
            session, project_id(), upload_name(part.filename), part.stream)
        item, _ = service.create_v1(session, project_id(), stored, params)
        return service.status_view(item)


@_route("/job/<job_id>", methods=["GET"])
def job(job_id: str):
    with unit_of_work() as session:
        return service.job_status(session, project_id(), job_id)


@_route("/job/<job_id>/result/<result_type>", methods=["GET"])
def result(job_id: str, result_type: str):
    with unit_of_work() as session:
        return service.job_result(session, project_id(), job_id, result_type)


@_route("/job/<job_id>/result/image/<name>", methods=["GET"])
def image(job_id: str, name: str) -> Response:
    with unit_of_work() as session:
        data, mime = parse_jobs.image_file(session, job_id, name, project_id())
    return Response(data, mimetype=mime, headers={"Content-Length": str(len(data))})


@_route("/job/<job_id>/result/raw/<result_type>", methods=["GET"])
def raw(job_id: str, result_type: str) -> Response:
    with unit_of_work() as session:
        text = service.raw_result(session, project_id(), job_id, result_type)
    return Response(text, mimetype="text/plain")
