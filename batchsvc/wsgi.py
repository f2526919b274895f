"""WSGI entry point for production servers: ``gunicorn batchsvc.wsgi:app``."""

import sys

from batchsvc.app import create_app
from batchsvc.bootstrap import ensure_bootstrap_key
from batchsvc.logs import configure_logging
from batchsvc.migrate import SchemaNotReady, wait_for_schema
from batchsvc.server_errors import install as json_server_errors
from batchsvc.settings import get_settings

configure_logging()
json_server_errors()
try:
    wait_for_schema(get_settings().schema_wait_seconds,
                    say=lambda line: print(line, file=sys.stderr, flush=True))
except SchemaNotReady as exc:
    raise SystemExit(f"batchsvc api: {exc}") from None
ensure_bootstrap_key()
app = create_app()
