"""Bearer-key authentication for every /api/ route, with a short in-process cache."""

from __future__ import annotations

import time

from flask import abort, g, request

from batchsvc.models import Project
from batchsvc.services.auth import authenticate
from batchsvc.uow import unit_of_work

_CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, str | None]] = {}


def _project_for(key: str) -> str | None:
    hit = _cache.get(key)
    now = time.monotonic()
    if hit and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    with unit_of_work() as session:
        project = authenticate(session, key)
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[key] = (now, project)
    return project


def require_key() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        abort(401, description="missing API key: send 'Authorization: Bearer <key>'")
    project = _project_for(key.strip())
    if project is None:
        abort(401, description="invalid API key")
    wanted = request.args.get("project_id")
    if wanted and wanted != project:
        with unit_of_work() as session:
            named = session.get(Project, project)
            if named is None or wanted != named.name:
                abort(403, description=f"this API key does not belong to project {wanted}")
    g.project_id = project
