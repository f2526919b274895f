"""Real services for tests: a private Postgres database, a Redis namespace, Celery workers
and a live HTTP server. Nothing here fakes the thing under test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from werkzeug.serving import make_server

from batchsvc.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
PG_ADMIN_URL = os.environ.get("BATCHSVC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BATCHSVC_TEST_REDIS", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("BATCHSVC_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A fresh database for one test session, dropped afterwards."""
    name = f"batchsvc_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def settings_env(settings: Settings) -> dict[str, str]:
    """The BATCHSVC_* environment that reproduces ``settings`` in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHSVC_")}
    for field in settings.__dataclass_fields__:
        value = getattr(settings, field)
        env[f"BATCHSVC_{field.upper()}"] = str(value).lower() if isinstance(value, bool) \
            else str(value)
    env["PYTHONPATH"] = str(ROOT)
    return env


class Worker:
    """A real ``celery worker`` process consuming this test session's queues; ``wrap``
    prefixes its command (``ip netns exec HOST``: a worker on another test host)."""

    def __init__(self, settings: Settings, *, queues: tuple[str, ...] = (
            "parse", "classify", "control", "webhooks"), concurrency: int = 2,
            beat: bool = False, extra_env: dict[str, str] | None = None,
            pool: str = "prefork", via_cli: bool = False, wrap: tuple[str, ...] = (),
            name: str | None = None) -> None:
        self.settings, self.name = settings, name or f"w{uuid.uuid4().hex[:8]}@test"
        ns = settings.namespace
        common = ["-n", self.name, "--concurrency", str(concurrency), "--pool", pool,
                  "--without-gossip", "--without-mingle"]
        if via_cli:
            # Exactly what an operator runs: `batchsvc worker` picks the queues itself.
            argv = [sys.executable, "-m", "batchsvc.cli", "worker", *common]
        else:
            argv = [sys.executable, "-m", "celery", "-A", "tasks.worker", "worker",
                    "-Q", ",".join(f"{ns}{q}" for q in queues), "--loglevel", "INFO",
                    *common]
        if beat:
            argv += ["--beat", "--schedule",
                     str(Path(settings.data_dir) / f"beat-{uuid.uuid4().hex[:6]}")]
        env = settings_env(settings) | (extra_env or {})
        self.log_path = Path(settings.data_dir) / f"{self.name.split('@')[0]}.log"
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([*wrap, *argv], cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-3000:]}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready: {self.log_path.read_text()[-3000:]}")

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                             text=True).stdout
        return [int(pid) for pid in out.split()]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole worker (its process group), as the OOM killer or a crash would."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                self.kill()
        self._log.close()


class Cli:
    """A ``batchsvc …`` process with the environment of ``settings``, logging to a file."""

    def __init__(self, settings: Settings, *argv: str, env: dict[str, str] | None = None,
                 wrap: tuple[str, ...] = ()) -> None:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        self.log_path = Path(settings.data_dir) / f"cli-{argv[0]}-{uuid.uuid4().hex[:6]}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*wrap, sys.executable, "-m", "batchsvc.cli", *argv], cwd=ROOT, stdout=self._log,
            stderr=subprocess.STDOUT, env=settings_env(settings) | (env or {}),
            start_new_session=True)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, predicate: Any, what: str, timeout: float = 60) -> Any:
        def check() -> Any:
            if self.proc.poll() is not None:
                raise AssertionError(f"{what}: process exited\n{self.text()[-3000:]}")
            return predicate()
        return wait_for(check, timeout=timeout, message=what)

    def stop(self) -> None:
        stop_group(self.proc, 30)
        self._log.close()


def stop_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to a process group started with start_new_session; SIGKILL past ``timeout``."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class ServerProcess:
    """The API under gunicorn (the production server), configured by environment; on
    ``host`` when ``wrap`` runs it on another test host."""

    def __init__(self, settings: Settings, api_key: str, workers: int = 1,
                 port: int | None = None, host: str = "127.0.0.1",
                 wrap: tuple[str, ...] = ()) -> None:
        self.settings, self.api_key, self.workers = settings, api_key, workers
        self.port, self.host, self.wrap = port or free_port(), host, wrap
        env = settings_env(settings) | {"BATCHSVC_BOOTSTRAP_API_KEY": api_key}
        log_path = Path(settings.data_dir) / f"api-{self.port}.log"
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [*wrap, sys.executable, "-m", "gunicorn", "batchsvc.wsgi:app", "--bind",
             f"{host}:{self.port}", "--workers", str(workers), "--threads", "8",
             "--worker-class", "gthread", "--timeout", "120"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.url = f"http://{host}:{self.port}"
        deadline = time.time() + 60
        while not port_open(self.port, host):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"API did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        stop_group(self.proc, 20)
        self._log.close()

    def kill(self) -> None:
        """kill -9 of the master and its workers, mid-request."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def restarted(self) -> ServerProcess:
        """A new server on the same address (clients keep their URL)."""
        return ServerProcess(self.settings, self.api_key, self.workers, self.port, self.host,
                             self.wrap)


class LiveServer:
    """The Flask app on a real socket (threaded), for the SDK and HTTP clients."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()


def wait_for(predicate: Any, timeout: float = 120, interval: float = 0.3,
             message: str = "condition") -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")
