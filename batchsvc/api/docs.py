"""``/openapi.json`` built with apispec from the marshmallow schemas the routes load and
dump, and ``/docs``: a self-contained page (no CDN) that renders it and sends requests."""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app
from marshmallow import Schema
from marshmallow import fields as mfields

from schemas import batch as b
from schemas import classifier as c
from schemas import directories as d
from schemas import files as f
from schemas.common import ErrorSchema, ProjectQuery

log = logging.getLogger("batchsvc.api.docs")
bp = Blueprint("docs", __name__)
OPENAPI_VERSION = "3.0.3"
UNDOCUMENTED = {"static", "root"}
# The dashboard's pages are HTML for people behind a session cookie, not the API.
UNDOCUMENTED_BLUEPRINTS = ("ui.",)
NDJSON, ZIP, SSE = "application/x-ndjson", "application/zip", "text/event-stream"


# A schema class, or "module:Class" for a schema another blueprint owns (resolved when the
# document is built, so this module imports even before that schema exists).
SchemaRef = type[Schema] | str


@dataclass(frozen=True)
class Op:
    """What a route loads and dumps: the same schema classes its view uses."""

    summary: str
    tag: str
    body: SchemaRef | None = None
    form: type[Schema] | None = None
    file_field: str | None = None
    query: SchemaRef | None = ProjectQuery
    response: SchemaRef | dict[str, Any] | None = None
    status: int = 200
    media: str = "application/json"
    errors: tuple[int, ...] = ()
    extra_params: tuple[dict[str, Any], ...] = field(default_factory=tuple)


BATCH, DIRS, FILES, RESULTS, OPS = "batch processing", "directories", "files", "results", "ops"
ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
TEXT: dict[str, Any] = {"type": "string"}

SIGNED = tuple({"in": "query", "name": n, "required": True, "schema": {"type": "string"}}
               for n in ("expires", "signature"))


class _ParseUploadForm(Schema):
    configuration = mfields.String(required=True, metadata={
        "description": "JSON: tier, version and the options of POST /api/v2/parse"})


class _V1UploadForm(Schema):
    max_pages = mfields.Integer(metadata={"description": "and any LlamaParse parameter"})


# The llama-parse client's routes, served under /api/parsing and /api/v1/parsing alike.
V1_OPERATIONS: dict[str, Op] = {
    "upload": Op("llama-parse client: upload one file, options as form fields", RESULTS,
                 form=_V1UploadForm, file_field="file", response=ANY_OBJECT, errors=(413,)),
    "job": Op("llama-parse client: a job's status (PENDING, SUCCESS, ERROR, CANCELED)",
              RESULTS, response=ANY_OBJECT),
    "result": Op("llama-parse client: the markdown, text or json result", RESULTS,
                 response=ANY_OBJECT),
    "image": Op("llama-parse client: one image of the result (get_images)", RESULTS,
                response={"image/png": BINARY, "image/jpeg": BINARY}),
    "raw": Op("llama-parse client: the whole markdown or text, as text", RESULTS,
              response={"text/plain": TEXT}),
}


OPERATIONS: dict[str, Op] = {
    "batches.create": Op("Create a batch job over a directory or a list of directory files",
                         BATCH, body=b.BatchCreateSchema, response=b.BatchJobSchema,
                         errors=(409, 413), extra_params=({
                             "in": "header", "name": "Idempotency-Key", "required": False,
                             "schema": {"type": "string", "minLength": 1,
                                        "maxLength": 255}},)),
    "batches.list_jobs": Op("List batch jobs", BATCH, query=b.BatchListQuery,
                            response=b.BatchListSchema),
    "batches.get_status": Op("A job with its progress", BATCH, response=b.BatchStatusSchema),
    "batches.cancel": Op("Cancel a job: pending items become cancelled", BATCH,
                         body=b.CancelSchema, response=b.CancelResponseSchema, errors=(409,),
                         extra_params=({"in": "query", "name": "reason", "required": False,
                                        "schema": {"type": "string"}},)),
    "batches.items": Op("A job's items", BATCH, query=b.JobItemsQuery,
                        response=b.JobItemListSchema),
    "batches.processing_results": Op("Every processing of one item (lineage)", BATCH,
                                     query=b.ProcessingResultsQuery,
                                     response=b.ProcessingResultsSchema),
    "batches.retry": Op("Re-run a finished job's failed (and optionally cancelled) items as a "
                       "new job linked by retry_of", BATCH, body=b.RetrySchema,
                       response=b.RetryJobSchema, errors=(409,)),
    "exports.results": Op("Every item's result, streamed: JSONL, or a zip of markdown files "
                         "(parse) / classifications.jsonl (classify)", BATCH,
                         query=b.ResultsQuery, response={NDJSON: TEXT, ZIP: BINARY}),
    "events.events": Op("Progress as server-sent events until the job ends", BATCH,
                        query=b.EventsQuery, response={SSE: TEXT}),
    "directories.create": Op("Create a directory", DIRS, body=d.DirectoryCreateSchema,
                             response=d.DirectorySchema),
    "directories.list_directories": Op("List directories", DIRS, query=d.DirectoryListQuery,
                                       response=d.DirectoryListSchema),
    "directories.get": Op("A directory", DIRS, response=d.DirectorySchema),
    "directories.update": Op("Rename or describe a directory", DIRS,
                             body=d.DirectoryUpdateSchema, response=d.DirectorySchema),
    "directories.delete": Op("Delete a directory", DIRS, status=204),
    "directories.add_file": Op("Add an uploaded file to a directory", DIRS,
                               body=d.DirectoryFileAddSchema, response=d.DirectoryFileSchema),
    "directories.upload": Op("Upload a file into a directory (multipart)", DIRS,
                             form=d.DirectoryFileUploadForm, file_field="upload_file",
                             response=d.DirectoryFileSchema, errors=(413,)),
    "directories.list_files": Op("List a directory's files", DIRS,
                                 query=d.DirectoryFileListQuery,
                                 response=d.DirectoryFileListSchema),
    "directories.get_file": Op("A directory file", DIRS, query=d.DirectoryFileGetQuery,
                               response=d.DirectoryFileSchema),
    "directories.update_file": Op("Rename, re-tag or move a directory file", DIRS,
                                  body=d.DirectoryFileUpdateSchema,
                                  response=d.DirectoryFileSchema),
    "directories.delete_file": Op("Remove a file from a directory", DIRS, status=204),
    "directories.start_import": Op("Fill a directory from an S3 prefix, by reference", DIRS,
                                   body=d.S3ImportCreateSchema, response=d.S3ImportSchema,
                                   status=202, errors=(422,)),
    "directories.get_import": Op("An S3 import's progress", DIRS, response=d.S3ImportSchema),
    "files.create": Op("Upload a file (multipart)", FILES, form=f.FileCreateForm,
                       file_field="file", response=f.FileSchema, errors=(413,)),
    "files.list_files": Op("List files", FILES, query=f.FileListQuery,
                           response=f.FileListSchema),
    "files.query_files": Op("Query files by a filter in the body (files.query)", FILES,
                            body=f.FileQuerySchema, response=f.FileListSchema),
    "files.get": Op("A file's metadata", FILES, response=f.FileSchema),
    "files.delete": Op("Delete a file", FILES, status=204),
    "files.content": Op("A signed download URL for a file", FILES, query=f.FileContentQuery,
                        response=f.PresignedUrlSchema),
    "downloads.download": Op("Download file bytes with a signed URL (no key)", FILES,
                             query=None, response={"application/octet-stream": BINARY},
                             errors=(403,), extra_params=SIGNED),
    "results.parse_result": Op("A parse job and its result (llama-cloud ParsingGetResponse)",
                               RESULTS, query="schemas.parse_v2:ParseGetQuery",
                               response=ANY_OBJECT),
    "result_links.parse_content": Op("Download one result file with a signed URL (no key)",
                                     RESULTS, query=None, errors=(403,),
                                     response={"application/json": ANY_OBJECT,
                                               "text/plain": TEXT},
                                     extra_params=SIGNED),
    "result_links.parse_image": Op("Download one image of a result with a signed URL (no key)",
                                   RESULTS, query=None, errors=(403,),
                                   response={"image/png": BINARY, "image/jpeg": BINARY},
                                   extra_params=SIGNED),
    "parse.create": Op("Parse one file by file_id or source_url", RESULTS,
                       body="schemas.parse_v2:ParseCreateSchema", response=ANY_OBJECT),
    "parse.upload": Op("Upload one file and parse it", RESULTS,
                       form=_ParseUploadForm, file_field="file", response=ANY_OBJECT,
                       errors=(413,)),
    "parse.list_jobs": Op("Parse jobs, one-file and batch items alike", RESULTS,
                          query="schemas.parse_v2:ParseListQuery", response=ANY_OBJECT),
    **{f"{prefix}.{name}": op for prefix in ("parsing_v1", "parsing_v1_prefixed")
       for name, op in V1_OPERATIONS.items()},
    "classifier.create_classifier_job": Op("Classify files by rules", RESULTS,
                                        body=c.ClassifierJobCreateSchema,
                                        response=c.ClassifyJobSchema),
    "classifier.list_classifier_jobs": Op("List classifier jobs", RESULTS,
                                       query=c.ClassifierJobListQuery,
                                       response=c.ClassifierJobListSchema),
    "classifier.get_classifier_job": Op("A classifier job", RESULTS,
                                     response=c.ClassifyJobSchema),
    "classifier.classifier_results": Op("A classifier job's per-file results", RESULTS,
                                     query=c.ClassifierResultsQuery,
                                     response=c.ClassifierResultsSchema),
    "classify_v2.create": Op("Classify one file or parse job by rules (llama-cloud "
                             "classify.create)", RESULTS,
                             body="schemas.classify_v2:ClassifyV2CreateSchema",
                             response="schemas.classify_v2:ClassifyV2JobSchema"),
    "classify_v2.list_jobs": Op("List one-file classify jobs", RESULTS,
                                query="schemas.classify_v2:ClassifyV2ListQuery",
                                response="schemas.classify_v2:ClassifyV2JobListSchema"),
    "classify_v2.get": Op("A one-file classify job with its result", RESULTS,
                          response="schemas.classify_v2:ClassifyV2JobSchema"),
    "webhooks.list_deliveries": Op("A job's webhook deliveries and their attempts", BATCH,
                                   query="schemas.webhooks:DeliveryListQuery",
                                   response="schemas.webhooks:WebhookDeliveryListSchema"),
    "webhooks.redeliver": Op("Send a webhook delivery again", BATCH, status=202,
                             response="schemas.webhooks:WebhookDeliverySchema"),
    "health.healthz": Op("Liveness", OPS, query=None, response=ANY_OBJECT),
    "health.readyz": Op("Readiness: database and broker reachable", OPS, query=None,
                        response=ANY_OBJECT, errors=(503,)),
    "metrics.metrics": Op("Prometheus metrics", OPS, query=None,
                          response={"text/plain": TEXT}),
    "docs.openapi": Op("This document", OPS, query=None, response=ANY_OBJECT),
    "docs.page": Op("Interactive API page", OPS, query=None, response={"text/html": TEXT}),
}
UNKEYED_BLUEPRINTS = {"downloads", "result_links", "health", "metrics", "docs"}
_PATH_ARG = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")


def _resolve(ref: Any, fallback: Any = None) -> Any:
    if not isinstance(ref, str):
        return ref
    module, _, name = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        log.warning("openapi: schema %s not found; documented loosely", ref)
        return fallback


def _content(op: Op) -> dict[str, Any]:
    if isinstance(op.response, dict) and "type" not in op.response:
        return {media: {"schema": schema} for media, schema in op.response.items()}
    return {op.media: {"schema": _resolve(op.response, ANY_OBJECT)}}


def _operation(spec: APISpec, plugin: MarshmallowPlugin, endpoint: str, op: Op,
               path_args: list[str]) -> dict[str, Any]:
    keyed = endpoint.split(".", 1)[0] not in UNKEYED_BLUEPRINTS
    params: list[dict[str, Any]] = [
        {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
        for name in path_args]
    if op.query is not None:
        params.append({"in": "query", "schema": _resolve(op.query, ProjectQuery)})
    params.extend(op.extra_params)
    ok = {"description": "OK"} if op.status == 204 else {"description": "OK",
                                                           "content": _content(op)}
    responses: dict[str, Any] = {str(op.status): ok}
    errors = {422, *op.errors} | ({401, 403, 429, 503} if keyed else set())
    errors |= {404} if path_args else set()
    for code in sorted(errors):
        responses[str(code)] = {"$ref": f"#/components/responses/Error{code}"}
    out: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], "parameters": params,
                           "responses": responses, "operationId": endpoint.replace(".", "_"),
                           "security": [{"bearerAuth": []}] if keyed else []}
    if op.body is not None:
        out["requestBody"] = {"required": False,
                              "content": {"application/json": {
                                  "schema": _resolve(op.body, ANY_OBJECT)}}}
    if op.form is not None:
        form = plugin.converter.schema2jsonschema(op.form)  # type: ignore[union-attr]
        form["properties"][op.file_field] = BINARY
        form["required"] = [op.file_field, *form.get("required", [])]
        out["requestBody"] = {"required": True,
                              "content": {"multipart/form-data": {"schema": form}}}
    return out


ERROR_TEXT = {401: "No or an invalid API key", 403: "Forbidden", 404: "Not found",
              409: "Illegal state change", 413: "Body or upload too large",
              422: "Validation failed; detail names each field", 429: "Rate limited",
              503: "A dependency is unavailable; retry"}


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every route of ``app``."""
    plugin = MarshmallowPlugin()
    spec = APISpec(title="batchsvc", version="1", openapi_version=OPENAPI_VERSION,
                   plugins=[plugin], info={"description": "Batch parse and classify, "
                                           "speaking LlamaCloud's batch-processing API."})
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=ErrorSchema)
    for code, text in ERROR_TEXT.items():
        spec.components.response(f"Error{code}", {"description": text, "content": {
            "application/json": {"schema": "Error"}}})
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in UNDOCUMENTED or rule.endpoint.startswith(UNDOCUMENTED_BLUEPRINTS):
            continue
        op = OPERATIONS.get(rule.endpoint)
        if op is None:
            # Still listed (path, key, errors), so clients and fuzzers see every route.
            log.warning("openapi: route %s (%s) has no entry in OPERATIONS", rule.rule,
                        rule.endpoint)
            op = Op(rule.endpoint, rule.endpoint.split(".", 1)[0], response=ANY_OBJECT)
        path = _PATH_ARG.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                spec, plugin, rule.endpoint, op, _PATH_ARG.findall(rule.rule))
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi():
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if "openapi" not in app.extensions:
        # Routes are fixed once the app serves, so the document is built once per app.
        app.extensions["openapi"] = build_spec(app)
    return app.extensions["openapi"]


@bp.get("/docs")
def page() -> Response:
    html = resources.files("batchsvc.api").joinpath("docs.html").read_text(encoding="utf-8")
    return Response(html, mimetype="text/html")
