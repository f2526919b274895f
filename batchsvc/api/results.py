"""Parse results: ``GET /api/v2/parse/{job_id}`` and the signed links its
``*_content_metadata`` expansions hand out."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, request

from batchsvc.api.common import load, project_id
from batchsvc.services import links
from batchsvc.services import parse_jobs as service
from batchsvc.uow import read_only, unit_of_work
from schemas.parse_v2 import ParseGetQuery

bp = Blueprint("results", __name__)
# The signed link is the credential, so these routes are outside key auth.
links_bp = Blueprint("result_links", __name__)
CONTENT = "/api/v2/parse/{}/content/{}"
IMAGE = "/api/v2/parse/{}/images/{}"


@bp.get("/api/v2/parse/<job_id>")
def parse_result(job_id: str):
    query = load(ParseGetQuery(), {
        "expand": request.args.getlist("expand"),
        **{k: request.args[k] for k in ("image_filenames", "organization_id", "project_id")
           if k in request.args}}, "query")
    expand = [e.strip() for raw in query.get("expand") or [] for e in raw.split(",")
              if e.strip()]
    names = [n.strip() for n in (query.get("image_filenames") or "").split(",") if n.strip()]
    with read_only() as session:
        item, job = service.find_item(session, project_id(), job_id)
        view = service.job_view(item, job)
        stored = service.stored_result(session, item, job)
    from batchsvc.engines.parse import render_v2

    base = request.host_url

    def content_url(kind: str) -> str:
        return links.signed_url(base, CONTENT, [job_id, kind])

    images = service.image_records(stored)

    def image_url(name: str) -> str | None:
        if name not in images:
            return None
        return service.image_url(images[name], links.signed_url(base, IMAGE, [job_id, name]))

    return render_v2(stored or {}, _iso(view), expand, image_url=image_url,
                     image_filenames=names or None, content_url=content_url)


@links_bp.get("/api/v2/parse/<job_id>/content/<kind>")
def parse_content(job_id: str, kind: str) -> Response:
    if not links.check([job_id, kind], request.args.get("expires"),
                       request.args.get("signature")):
        abort(403, description="the download link is invalid or has expired")
    with unit_of_work() as session:
        data = service.result_file(session, job_id, kind)
    mime = "text/plain" if kind in ("text", "markdown") else "application/json"
    return Response(data, mimetype=mime, headers={"Content-Length": str(len(data))})


@links_bp.get("/api/v2/parse/<job_id>/images/<name>")
def parse_image(job_id: str, name: str) -> Response:
    if not links.check([job_id, name], request.args.get("expires"),
                       request.args.get("signature")):
        abort(403, description="the download link is invalid or has expired")
    with unit_of_work() as session:
        data, mime = service.image_file(session, job_id, name)
    return Response(data, mimetype=mime, headers={"Content-Length": str(len(data))})


def _iso(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in job.items()}
