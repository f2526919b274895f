"""Private PostgreSQL, Redis and RabbitMQ instances on spare loopback ports (or on a test
host's address, started inside its network namespace by ``wrap``), so a fault test can stop,
kill and restart them without touching the machine's shared services."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path

from tests.harness import free_port, port_open

PG_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin",
               "/usr/lib/postgresql/15/bin")


def _pg_bin(name: str) -> str:
    for folder in PG_BIN_DIRS:
        if Path(folder, name).exists():
            return str(Path(folder, name))
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return found


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


class PrivatePostgres:
    """A throwaway cluster (initdb) on its own port; root runs it as the postgres user."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None,
                 wrap: tuple[str, ...] = ()) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="batchsvc-pg-"))
        self.data = self.root / "data"
        self.host, self.port, self.wrap = host, port or free_port(), wrap
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        # initdb trusts loopback only; clients on other test hosts share the server's subnet.
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all samenet trust\n")
        self.start()
        self._run(_pg_bin("createdb"), "-h", host, "-p", str(self.port), "-U",
                  "postgres", "batchsvc")
        self.url = f"postgresql://postgres@{host}:{self.port}/batchsvc"

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        subprocess.run([*self.wrap, *prefix, *argv], check=True, capture_output=True, cwd=self.root,
                       timeout=120)

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses={self.host} -k {self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "server.log"), "-w", "-t", "60", "start")
        _wait(lambda: port_open(self.port, self.host), 30, "PostgreSQL to listen")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects clients and shuts down; ``immediate`` is a crash."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60",
                  "stop")

    def close(self) -> None:
        with suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A ``redis-server`` with no persistence: a restart loses every queue and chord counter,
    the worst case a broker restart can bring."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None,
                 wrap: tuple[str, ...] = ()) -> None:
        self.host, self.port, self.wrap = host, port or free_port(), wrap
        self.dir = Path(tempfile.mkdtemp(prefix="batchsvc-redis-"))
        self.url = f"redis://{host}:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self.wrap, shutil.which("redis-server") or "redis-server", "--port",
             str(self.port), "--bind", self.host,
             # Clients on other test hosts: Redis refuses non-loopback ones without a password.
             "--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: port_open(self.port, self.host), 30, "Redis to listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        _wait(lambda: not port_open(self.port, self.host), 30, "Redis to stop")

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRabbitMQ:
    """A ``rabbitmq-server`` node of its own (node name, ports, data and log directories,
    config), listening on ``host``; the machine's RabbitMQ is left alone. Guest may log in
    from any address (``loopback_users = none``): the clients are on other test hosts. It
    needs a namespace of its own (``wrap``) when the machine's node already runs, for the
    Erlang port mapper (4369) and distribution port."""

    def __init__(self, host: str, port: int = 5672, wrap: tuple[str, ...] = ()) -> None:
        self.host, self.port, self.wrap = host, port, wrap
        self.dir = Path(tempfile.mkdtemp(prefix="batchsvc-rabbit-"))
        node = f"bsv{self.dir.name[-8:].lower().replace('_', '')}@localhost"
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {host}:{port}\nloopback_users = none\n")
        # No plugins (management adds seconds to the boot and nothing here uses it).
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "env.conf").write_text("")  # not the machine's rabbitmq-env.conf
        self.env = {"HOME": str(self.dir), "RABBITMQ_NODENAME": node,
                    "RABBITMQ_CONF_ENV_FILE": str(self.dir / "env.conf"),
                    "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
                    "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
                    "RABBITMQ_LOG_BASE": str(self.dir / "log"),
                    "RABBITMQ_NODE_IP_ADDRESS": host, "RABBITMQ_NODE_PORT": str(port)}
        self.url = f"amqp://guest:guest@{host}:{port}//"
        self.proc: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            shutil.chown(self.dir, "rabbitmq", "rabbitmq")
            for child in self.dir.iterdir():
                shutil.chown(child, "rabbitmq", "rabbitmq")
        self.start()

    def start(self) -> None:
        as_rabbitmq = ["runuser", "-u", "rabbitmq", "--"] if os.geteuid() == 0 else []
        env_args = [f"{key}={value}" for key, value in self.env.items()]
        self._log = (self.dir / "server.out").open("wb")
        self.proc = subprocess.Popen(
            [*self.wrap, *as_rabbitmq, "env", *env_args, _rabbitmq_server()],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        # An Erlang VM boots in tens of seconds on a busy machine.
        _wait(lambda: port_open(self.port, self.host), 120, "RabbitMQ to listen")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=30)
            self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _rabbitmq_server() -> str:
    # The script in sbin re-executes itself as the rabbitmq user via su; this is the server.
    for path in ("/usr/lib/rabbitmq/bin/rabbitmq-server", shutil.which("rabbitmq-server")):
        if path and Path(path).exists():
            return path
    raise RuntimeError("rabbitmq-server is not installed")
