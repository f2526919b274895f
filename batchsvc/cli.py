"""The ``batchsvc`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from batchsvc import client_cli
from batchsvc.logs import server_log_args, worker_log_args
from batchsvc.settings import get_settings

ALL_QUEUES = ("parse", "classify", "control", "webhooks")


def _queues() -> str:
    from batchsvc.messaging import queue_name

    return ",".join(queue_name(q) for q in ALL_QUEUES)


def worker_argv(extra: Sequence[str] = (), *, beat: bool = False) -> list[str]:
    settings = get_settings()
    argv = [sys.executable, "-m", "celery", *worker_log_args(settings), "-A", "tasks.worker",
            "worker", "--loglevel", settings.log_level, "-Q", _queues()]
    if settings.worker_concurrency:
        argv += ["--concurrency", str(settings.worker_concurrency)]
    if beat:
        argv += ["--beat"]
    return argv + list(extra)


def serve_argv(host: str, port: int, workers: int | None = None) -> list[str]:
    workers = workers or get_settings().api_workers
    return [sys.executable, "-m", "gunicorn", "batchsvc.wsgi:app", "--bind", f"{host}:{port}",
            "--workers", str(workers), "--threads", "4", "--worker-class", "gthread",
            "--timeout", "120", *server_log_args()]


def cmd_db_upgrade(_: argparse.Namespace) -> int:
    from batchsvc.migrate import upgrade

    upgrade()
    print("database is at the latest revision")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from batchsvc.migrate import upgrade
    from batchsvc.services.auth import create_api_key
    from batchsvc.uow import unit_of_work

    upgrade()
    with unit_of_work() as session:
        key = create_api_key(session, args.project)
    print(f"API key for project {args.project!r} (shown once):")
    print(key)
    return 0


def _schema_ready(service: str) -> bool:
    """Wait for a migrated database (other processes may be migrating it right now); False,
    with one line saying why, when it is not there in time."""
    from batchsvc.migrate import SchemaNotReady, wait_for_schema

    try:
        wait_for_schema(get_settings().schema_wait_seconds,
                        say=lambda line: print(line, file=sys.stderr, flush=True))
    except SchemaNotReady as exc:
        print(f"batchsvc {service}: {exc}", file=sys.stderr, flush=True)
        return False
    return True


def cmd_model_prepare(_: argparse.Namespace) -> int:
    """Build the classifier's ONNX graph now, so no worker builds it at its first item."""
    from batchsvc.engines.classify.model import get_encoder
    from batchsvc.services.items.engines import configure_model

    configure_model()
    get_encoder()
    print("classifier model ready")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not _schema_ready("serve"):
        return 2
    host, port = args.host or settings.host, args.port or settings.port
    # A log line like the server's own (JSON where logs are JSON), not a bare print.
    from batchsvc.logs import configure_logging

    configure_logging(settings)
    logging.getLogger("batchsvc.cli").info("dashboard: http://%s:%s/ui/", host, port)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.execv(sys.executable, serve_argv(host, port, args.workers))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    if not _schema_ready("worker"):
        return 2
    os.execv(sys.executable, worker_argv(args.celery_args))
    return 0


def cmd_beat(args: argparse.Namespace) -> int:
    os.execv(sys.executable, [sys.executable, "-m", "celery", *worker_log_args(), "-A",
                              "tasks.worker", "beat", "--loglevel", get_settings().log_level,
                              *args.celery_args])
    return 0


def cmd_flower(args: argparse.Namespace) -> int:
    os.execv(sys.executable, [sys.executable, "-m", "celery", "-A", "tasks.worker", "flower",
                              *args.celery_args])
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Everything on one machine: migrations, a worker with the scheduler, and the API."""
    from batchsvc.bootstrap import embedded_key
    from batchsvc.migrate import upgrade

    settings = get_settings()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    upgrade()
    key = embedded_key()
    host, port = args.host or settings.host, args.port or settings.port
    children = [
        subprocess.Popen(worker_argv(["--concurrency", str(args.concurrency)], beat=True)),
        subprocess.Popen(serve_argv(host, port, 1)),
    ]
    print(f"batchsvc is serving http://{host}:{port}", flush=True)
    print(f"dashboard: http://{host}:{port}/ui/ (sign in with the API key)", flush=True)
    print(f"API key: {key}", flush=True)
    print(f"data: {settings.data_path} ({'embedded' if settings.embedded else 'cluster'})",
          flush=True)

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        stop()
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
    return max((child.returncode or 0) for child in children)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchsvc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="the embedded all-in-one: API, worker and scheduler")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--concurrency", type=int, default=2)
    run.set_defaults(func=cmd_run)

    serve = sub.add_parser("serve", help="the API under a production WSGI server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(func=cmd_serve)

    for name, func, text in (("worker", cmd_worker, "a Celery worker (extra flags pass through)"),
                             ("beat", cmd_beat, "the periodic scheduler (the sweeper)"),
                             ("flower", cmd_flower, "Flower against the configured broker")):
        p = sub.add_parser(name, help=text)
        p.add_argument("celery_args", nargs=argparse.REMAINDER)
        p.set_defaults(func=func)

    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply every migration").set_defaults(func=cmd_db_upgrade)

    model = sub.add_parser("model", help="the classifier's model")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    model_sub.add_parser("prepare", help="build its ONNX graph now").set_defaults(
        func=cmd_model_prepare)

    keys = sub.add_parser("keys", help="API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; it is printed on the last line")
    create.add_argument("--project", default=get_settings().default_project)
    create.set_defaults(func=cmd_keys_create)

    client_cli.add_parser(sub)
    return parser


def parse_command(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a command line; flags after worker/beat/flower pass through to Celery."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if not hasattr(args, "celery_args"):
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.celery_args = [*unknown, *args.celery_args]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_command(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
