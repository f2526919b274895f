"""The Flask application factory."""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from batchsvc.db import is_transient_db_error
from batchsvc.errors import ServiceError
from batchsvc.ratelimit import limiter_for
from batchsvc.settings import Settings, get_settings, set_settings
from batchsvc.storage import StorageError
from schemas.common import validation_detail

log = logging.getLogger("batchsvc.api")
UPLOAD_ENDPOINTS = {"directories.upload", "files.create", "ui.upload", "parse.upload",
                    "parsing_v1.upload", "parsing_v1_prefixed.upload"}


def create_app(settings: Settings | None = None) -> Flask:
    if settings is not None:
        set_settings(settings)
        from batchsvc.db import reset_engine

        reset_engine()
    settings = get_settings()
    app = Flask("batchsvc")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_upload_bytes, settings.max_body_bytes) \
        + 1024 * 1024
    # Werkzeug counts a multipart form's non-file fields against this; keep it generous.
    app.config["MAX_FORM_MEMORY_SIZE"] = 1024 * 1024

    from batchsvc.api import (
        auth,
        batches,
        classifier,
        classify_v2,
        directories,
        docs,
        edge,
        events,
        exports,
        files,
        health,
        metrics,
        parse,
        parsing_v1,
        request_log,
        results,
        webhooks,
    )

    keyed: tuple[Blueprint, ...] = (batches.bp, directories.bp, files.bp, results.bp,
                                    classifier.bp, classify_v2.bp, webhooks.bp, exports.bp,
                                    events.bp, parse.bp, parsing_v1.bp,
                                    parsing_v1.prefixed_bp)
    # The API docs, /metrics, health and signed downloads need no key.
    for blueprint in (*keyed, files.download_bp, results.links_bp, health.bp, docs.bp,
                      metrics.bp):
        app.register_blueprint(blueprint)
    request_log.init_app(app)
    from batchsvc import ui

    ui.init_app(app)
    keyed_names = {bp.name for bp in keyed}
    limiter = limiter_for(settings)

    @app.before_request
    def _authenticate():  # type: ignore[no-untyped-def]
        if request.blueprint not in keyed_names:
            return None
        auth.require_key()
        if limiter is None:
            return None
        wait = limiter.wait_seconds(request.headers["Authorization"])
        if wait <= 0:
            return None
        response = _error(429, f"rate limit of {limiter.per_minute} requests per minute "
                          "exceeded for this API key; retry after the Retry-After seconds")
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return response

    @app.before_request
    def _limit_body() -> None:
        # JSON bodies are small; only the upload routes may carry large bodies.
        if request.endpoint not in UPLOAD_ENDPOINTS:
            request.max_content_length = settings.max_body_bytes

    # After the body limit is set: this may read a form body.
    app.before_request(edge.refuse_unstorable_text)
    _register_errors(app)
    return app


def _error(status: int, detail: Any):  # type: ignore[no-untyped-def]
    response = jsonify({"detail": detail})
    response.status_code = status
    return response


def _register_errors(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service(exc: ServiceError):  # type: ignore[no-untyped-def]
        return _error(exc.status, exc.detail)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):  # type: ignore[no-untyped-def]
        return _error(422, validation_detail(exc, "body"))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):  # type: ignore[no-untyped-def]
        limit = request.max_content_length
        return _error(413, f"request body is larger than the limit of {limit} bytes")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        return _error(exc.code or 500, exc.description)

    def _database_down(exc: Exception):  # type: ignore[no-untyped-def]
        # Only the class: a driver message can quote statement parameters.
        log.warning("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
        response = _error(503, "the database is unavailable; retry shortly")
        response.headers["Retry-After"] = "5"
        return response

    app.register_error_handler(PoolTimeout, _database_down)

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError):  # type: ignore[no-untyped-def]
        # Refused/dropped connections (also at pool checkout or auth) are an outage, not a
        # bad request.
        if is_transient_db_error(exc):
            return _database_down(exc)
        log.warning("database rejected a statement: %s", type(exc.orig).__name__)
        return _out_of_range()

    @app.errorhandler(OverflowError)
    def _overflow(exc: OverflowError):  # type: ignore[no-untyped-def]
        # SQLite's driver refuses an integer past 64 bits before the statement runs, where
        # Postgres answers NumericValueOutOfRange: the same 422 for both.
        log.warning("value out of range: %s", exc)
        return _out_of_range()

    def _out_of_range():  # type: ignore[no-untyped-def]
        return _error(422, "the request could not be stored: a value is out of range or "
                      "malformed")

    @app.errorhandler(StorageError)
    def _storage(exc: StorageError):  # type: ignore[no-untyped-def]
        # Bytes the rows point at are gone (a wiped volume, a deleted blob): say so plainly.
        log.warning("stored object unavailable: %s", exc)
        return _error(410, f"the stored content is no longer available: {exc}")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error")
        return _error(500, "internal error")
