"""The dashboard's blueprint: who is signed in, CSRF on every form, HTML error pages."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from batchsvc.errors import ServiceError
from batchsvc.services import auth as auth_service
from batchsvc.uow import unit_of_work

bp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates",
               static_folder="static")
OPEN_ENDPOINTS = {"ui.login", "ui.static"}
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def csrf_token() -> str:
    """This session's CSRF token; every form posts it back (scripts send it as a header)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def sign_in(key: str) -> bool:
    """Start a session for ``key`` if it is a live API key; the cookie keeps only its hash."""
    digest = auth_service.hash_key(key)
    with unit_of_work() as db:
        project = auth_service.project_for_digest(db, digest)
        name = auth_service.project_name(db, project) if project else None
    if project is None:
        return False
    # A new session (and CSRF token) at sign-in: a planted cookie is never promoted.
    session.clear()
    session.permanent = True
    session.update(key_hash=digest, project_id=project, project_name=name)
    csrf_token()
    return True


def _current_project() -> str | None:
    digest = session.get("key_hash")
    if not digest:
        return None
    with unit_of_work() as db:
        project = auth_service.project_for_digest(db, digest)
    if project is None or project != session.get("project_id"):
        session.clear()  # the key was revoked: signed out
        return None
    return project


def project_id() -> str:
    return str(g.project_id)


@bp.before_request
def _guard() -> Response | None:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
        if not sent or not hmac.compare_digest(sent, str(session.get("csrf", ""))):
            abort(400, description="this form has expired or did not come from this "
                  "dashboard (csrf_token missing or wrong): reload the page and try again")
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    project = _current_project()
    if project is None:
        if request.method == "GET":
            return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))
        abort(401, description="not signed in: sign in with an API key first")
    g.project_id = project
    return None


def wants_json() -> bool:
    """The page's script asked (uploads): answer JSON, as the API would."""
    return request.accept_mimetypes.best == "application/json"


# Pages load only their own script, styles, images and streams (a document's markdown can
# name remote images: they are not fetched), and no other site may frame them.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action "
                               "'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@bp.after_request
def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _error_page(status: int, detail: Any) -> tuple[Any, int]:
    if wants_json():
        return jsonify({"detail": detail}), status
    if isinstance(detail, list):
        lines = [f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
                 if isinstance(d, dict) else str(d) for d in detail]
    else:
        lines = [str(detail)]
    return render_template("error.html", status=status, lines=lines), status


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> tuple[Any, int]:
    return _error_page(exc.status, exc.detail)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Any, int]:
    return _error_page(exc.code or 500, exc.description)


@bp.app_template_filter("when")
def _when(value: datetime | str | None) -> str:
    """A time as the dumped schemas give it (ISO 8601), to the second, in UTC."""
    if not value:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.context_processor
def _globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "project_name": session.get("project_name"),
            "signed_in": "key_hash" in session}
