"""The dashboard: server-rendered pages under /ui/, signed in with an API key.

The views call the same services as the JSON API, scoped to the signed-in key's project."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, redirect, url_for

from batchsvc.secrets import derived_key
from batchsvc.settings import get_settings
from batchsvc.ui import batches, directories, items, signin  # noqa: F401 - registers views
from batchsvc.ui.blueprint import bp


def init_app(app: Flask) -> None:
    """Register the dashboard, its signed session cookie and the ``/`` redirect."""
    settings = get_settings()
    app.secret_key = derived_key(b"ui-session")
    app.config.update(
        SESSION_COOKIE_NAME="batchsvc_ui", SESSION_COOKIE_PATH="/ui",
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        # Behind TLS the cookie must never travel in clear; plain http on a laptop keeps it.
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    app.register_blueprint(bp)
    app.add_url_rule("/", "root", lambda: redirect(url_for("ui.batch_list")))
