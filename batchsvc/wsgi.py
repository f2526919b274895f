"""WSGI entry point for production servers: ``gunicorn batchsvc.wsgi:app``."""

from batchsvc.app import create_app
from batchsvc.bootstrap import ensure_bootstrap_key
from batchsvc.logs import configure_logging

configure_logging()
ensure_bootstrap_key()
app = create_app()
