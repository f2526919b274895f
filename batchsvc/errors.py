"""Errors a service raises; the API turns each into its status code and ``{"detail": ...}``."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 400

    def __init__(self, detail: Any) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class TooLarge(ServiceError):
    status = 413


class Unavailable(ServiceError):
    """503: a service the request needs (the object store) refused or did not answer."""

    status = 503


class Invalid(ServiceError):
    """422 naming the field: ``Invalid(["body", "item_ids", 3], "no such file")``."""

    status = 422

    def __init__(self, loc: list[Any], msg: str) -> None:
        super().__init__([{"loc": loc, "msg": msg, "type": "value_error"}])

    @classmethod
    def many(cls, detail: list[dict[str, Any]]) -> Invalid:
        error = cls([], "")
        error.detail = detail
        return error
