"""Query strings and forms through the API's own schemas: the same rules, the same 422s."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from batchsvc.errors import Invalid
from schemas.common import validation_detail

PAGE = 25


def load(schema: Schema, data: Any, location: str) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise Invalid.many(validation_detail(exc, location)) from exc


def query(schema: Schema, **defaults: Any) -> dict[str, Any]:
    """The query string, without the empty values an unset filter control sends."""
    raw = defaults | {k: v for k, v in request.args.items() if v != ""}
    return load(schema, raw, "query")


def pages(offset: int, limit: int, total: int) -> dict[str, int | None]:
    """Offsets of the previous and next pages, None at either end."""
    return {"prev": max(0, offset - limit) if offset > 0 else None,
            "next": offset + limit if offset + limit < total else None,
            "first": offset + 1 if total else 0, "last": min(total, offset + limit),
            "total": total}
