"""WSGI entry point for production servers: ``gunicorn batchsvc.wsgi:app``."""

from batchsvc.app import create_app
from batchsvc.bootstrap import ensure_bootstrap_key
from batchsvc.logs import configure_logging
from batchsvc.server_errors import install as json_server_errors

configure_logging()
json_server_errors()
ensure_bootstrap_key()
app = create_app()
