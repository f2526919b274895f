"""Request ids (``X-Request-ID`` in and out) and one access line per request."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import g, request

from batchsvc.logs import bind, clear, request_id_from
from batchsvc.settings import get_settings


def init_app(app: Any) -> None:
    """Bind the request's id to every log line of it; log one access line."""
    access = logging.getLogger("batchsvc.access")
    json_lines = get_settings().log_json

    @app.before_request
    def _start() -> None:
        clear()
        g.request_id = request_id_from(request.headers.get("X-Request-ID"))
        g.request_started = time.perf_counter()
        bind(request_id=g.request_id, job_id=(request.view_args or {}).get("job_id"))

    @app.after_request
    def _finish(response: Any) -> Any:
        request_id = g.get("request_id") or request_id_from(None)
        response.headers["X-Request-ID"] = request_id
        started = g.get("request_started")
        if not json_lines:
            return response  # gunicorn's own access log covers the text format
        access.info("%s %s %s", request.method, request.path, response.status_code, extra={
            "method": request.method, "path": request.path, "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "remote_addr": request.remote_addr,
        })
        return response

    @app.teardown_request
    def _forget(_: BaseException | None) -> None:
        clear()


