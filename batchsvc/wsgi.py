"""WSGI entry point for production servers: ``gunicorn batchsvc.wsgi:app``."""

from batchsvc.app import create_app
from batchsvc.bootstrap import ensure_bootstrap_key

ensure_bootstrap_key()
app = create_app()
