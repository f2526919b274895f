"""Sign-in with an API key, and sign-out."""

from __future__ import annotations

from flask import redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from batchsvc.ui.blueprint import bp, sign_in


def _safe_next(target: str | None) -> str:
    # Only a path inside the dashboard: never an open redirect to another site.
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return url_for("ui.batch_list")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""), error=None)
    key = request.form.get("api_key", "").strip()
    if key and sign_in(key):
        return redirect(_safe_next(request.form.get("next")), code=303)
    error = ("Enter an API key." if not key else
             "That API key is not valid (unknown or revoked). Check it and try again.")
    return render_template("login.html", next=request.form.get("next", ""), error=error), 401


@bp.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("ui.login"), code=303)
