"""What every blueprint shares: the caller's project, body loading, one unit of work."""

from __future__ import annotations

from typing import Any

from flask import g, request
from marshmallow import Schema, ValidationError

from batchsvc.api.edge import decode_json
from batchsvc.errors import Invalid
from batchsvc.services.files import upload_name  # noqa: F401 - the upload views' helper
from schemas.common import validation_detail


def project_id() -> str:
    return g.project_id


def load(schema: Schema, data: Any, location: str) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise Invalid.many(validation_detail(exc, location)) from exc


def json_body() -> dict[str, Any]:
    """The request's JSON object; every view reads its body here, through the edge's checks."""
    if not request.data:
        return {}
    body = decode_json(request.data)
    if not isinstance(body, dict):
        raise Invalid(["body"], "the request body must be a JSON object")
    return body


def query_args(schema: Schema) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        field = schema.fields.get(key)
        is_list = field is not None and field.__class__.__name__ == "List"
        raw[key] = values if is_list else values[-1]
    return load(schema, raw, "query")


def dump(schema: Schema, data: Any) -> Any:
    return schema.dump(data)


def links_base(query: dict[str, Any]) -> str | None:
    """The base URL of signed download links when ``expand`` asks for them, else None."""
    return request.host_url if "download_url" in (query.get("expand") or []) else None
