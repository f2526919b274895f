"""Shared fields, query schemas and the one error body shape."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields
from marshmallow.validate import Range

from batchsvc.models import BIGINT_MAX, INT_MAX

__all__ = ["BIGINT_MAX", "INT_MAX"]


def validation_detail(error: ValidationError, location: str) -> list[dict[str, Any]]:
    """Flatten marshmallow's nested messages into a list naming each field's path."""
    out: list[dict[str, Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path + ([] if key == "_schema" else [key]))
        elif isinstance(node, list) and node and all(isinstance(m, str) for m in node):
            for message in node:
                out.append({"loc": [location, *path], "msg": message, "type": "value_error"})
        elif isinstance(node, list):
            for value in node:
                walk(value, path)
        else:
            out.append({"loc": [location, *path], "msg": str(node), "type": "value_error"})

    walk(error.messages, [])
    return out


class ProjectQuery(Schema):
    """Every route accepts these; a key belongs to one project."""

    class Meta:
        unknown = EXCLUDE

    organization_id = fields.String(allow_none=True)
    project_id = fields.String(allow_none=True)


class OffsetQuery(ProjectQuery):
    limit = fields.Integer(load_default=100, validate=Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=Range(min=0, max=BIGINT_MAX))


class CursorQuery(ProjectQuery):
    page_size = fields.Integer(load_default=100, allow_none=True, validate=Range(min=1, max=1000))
    page_token = fields.String(load_default=None, allow_none=True)


class ErrorSchema(Schema):
    detail = fields.Raw(required=True)
