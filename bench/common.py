"""Benchmark plumbing: private services, worker and API processes, sampling and output.

Every benchmark builds its own deployment: a fresh Postgres database, a private
``redis-server`` (so Redis memory growth is ours alone), Celery workers and the API under
gunicorn, all as child processes configured by environment like a real deployment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the scripts run as ``python bench/x.py``
    sys.path.insert(0, str(REPO))

from batchsvc.messaging import redis_priority_lists  # noqa: E402
from batchsvc.settings import Settings  # noqa: E402
from tests.harness import (  # noqa: E402
    PG_ADMIN_URL,
    ServerProcess,
    free_port,
    port_open,
    postgres_database,
    settings_env,
)

PAGE = os.sysconf("SC_PAGE_SIZE")
CLOCK = os.sysconf("SC_CLK_TCK")
ALL_QUEUES = ("parse", "classify", "control", "webhooks")


# ---------------------------------------------------------------- output

def emit(result: dict[str, Any]) -> None:
    """The closing line every benchmark prints; ``run_all.py`` parses it."""
    print("BENCH " + json.dumps(result, sort_keys=True), flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {"cores": os.cpu_count(), "load_1m": round(one, 2), "load_5m": round(five, 2),
            "load_15m": round(fifteen, 2)}


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


# ---------------------------------------------------------------- processes

def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may contain spaces: fields start after the last ')'.
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def process_tree(root: int, kids: dict[int, list[int]] | None = None) -> list[int]:
    kids = _children_map() if kids is None else kids
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE / 2**20
    except (OSError, IndexError):
        return 0.0


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return 0.0
    fields_ = stat[stat.rindex(b")") + 2:].split()
    return (int(fields_[11]) + int(fields_[12])) / CLOCK


class Proc:
    """A child process in its own session, logging to a file, stopped as a group."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path,
                 label: str = "") -> None:
        self.log_path, self.label = log_path, label
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log.close()

    def tail(self, size: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-size:]


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of our own on a free port: no other session's keys in INFO memory."""
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    proc = Proc(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(work)], dict(os.environ),
                work / "redis.log")
    try:
        deadline = time.time() + 20
        while not port_open(port):
            if not proc.alive() or time.time() > deadline:
                raise RuntimeError(f"redis-server did not start: {proc.tail()}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.stop()
        shutil.rmtree(work, ignore_errors=True)


def redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


def redis_used_mb(client: Any) -> float:
    return float(client.info("memory")["used_memory"]) / 2**20


# ---------------------------------------------------------------- deployment

@dataclass
class Deployment:
    settings: Settings
    key: str
    project_id: str
    redis_url: str
    tmp: Path
    api: ServerProcess | None = None
    workers: list[Proc] = field(default_factory=list)
    others: list[Proc] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.api is not None
        return self.api.url

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}

    def sdk(self) -> Any:
        """The official client, as users run it."""
        from llama_cloud import LlamaCloud

        return LlamaCloud(api_key=self.key, base_url=self.url, max_retries=3)

    def env(self, **extra: str) -> dict[str, str]:
        return settings_env(self.settings) | extra

    def start_api(self, workers: int = 1) -> ServerProcess:
        self.api = ServerProcess(self.settings, self.key, workers=workers)
        return self.api

    def start_worker(self, *, app: str = "tasks.worker", queues: Sequence[str] = ALL_QUEUES,
                     concurrency: int | None = 2, loglevel: str = "WARNING") -> Proc:
        """A worker; ``concurrency`` None: Celery's default (the machine's cores), as
        `batchsvc worker` runs when BATCHSVC_WORKER_CONCURRENCY is not set."""
        name = f"b{uuid.uuid4().hex[:8]}@bench"
        ns = self.settings.namespace
        argv = [sys.executable, "-m", "celery", "-A", app, "worker", "-n", name,
                "-Q", ",".join(f"{ns}{q}" for q in queues),
                *(["--concurrency", str(concurrency)] if concurrency else []),
                "--pool", "prefork", "--loglevel", loglevel, "--without-gossip",
                "--without-mingle"]
        label = "raw" if "raw_app" in app else "+".join(queues)
        worker = Proc(argv, self.env(), self.tmp / f"{name.split('@')[0]}.log", label)
        self.workers.append(worker)
        self._wait_ping(name, worker)
        return worker

    def stop_worker(self, worker: Proc) -> None:
        worker.stop()
        self.workers.remove(worker)

    def start_beat(self) -> Proc:
        argv = [sys.executable, "-m", "celery", "-A", "tasks.worker", "beat", "--loglevel",
                "WARNING", "--schedule", str(self.tmp / "beat-schedule")]
        beat = Proc(argv, self.env(), self.tmp / "beat.log")
        self.others.append(beat)
        return beat

    def _wait_ping(self, name: str, worker: Proc, timeout: float = 90) -> None:
        from batchsvc.messaging import celery_app

        deadline = time.time() + timeout
        while time.time() < deadline:
            if not worker.alive():
                raise RuntimeError(f"worker exited: {worker.tail()}")
            if celery_app.control.ping(destination=[name], timeout=0.5):
                return
        raise RuntimeError(f"worker {name} did not answer: {worker.tail()}")

    def session(self) -> Any:
        from batchsvc.uow import unit_of_work

        return unit_of_work()

    def stop(self) -> None:
        for proc in [*self.workers, *self.others]:
            proc.stop()
        self.workers.clear()
        self.others.clear()
        if self.api is not None:
            self.api.stop()
            self.api = None


def activate(settings: Settings) -> None:
    """Make ``settings`` this process's settings and bring the database to the head."""
    from batchsvc.db import reset_engine
    from batchsvc.messaging import reconfigure
    from batchsvc.migrate import upgrade
    from batchsvc.settings import set_settings

    set_settings(settings)
    reset_engine()
    reconfigure(settings)
    upgrade()


@contextmanager
def deployment(**overrides: Any) -> Iterator[Deployment]:
    """Postgres database + private Redis + settings; processes are started by the caller."""
    if not port_open(5432):
        raise SystemExit(f"PostgreSQL is not reachable ({PG_ADMIN_URL})")
    with ExitStack() as stack:
        pg_url = stack.enter_context(postgres_database())
        redis_url = stack.enter_context(private_redis())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        settings = Settings(data_dir=str(tmp), namespace=f"b{uuid.uuid4().hex[:6]}-",
                            database_url=pg_url, broker_url=redis_url, log_json=False,
                            log_level="WARNING", **overrides)
        activate(settings)
        from batchsvc.models import Project
        from batchsvc.services.auth import create_api_key
        from batchsvc.uow import unit_of_work

        key = f"llx-bench-{uuid.uuid4().hex}"
        with unit_of_work() as session:
            create_api_key(session, settings.default_project, key)
        with unit_of_work() as session:
            project_id = session.query(Project.id).filter_by(name=settings.default_project) \
                .scalar()
        dep = Deployment(settings, key, project_id, redis_url, tmp)
        try:
            yield dep
        finally:
            dep.stop()
            from batchsvc.db import reset_engine

            reset_engine()


# ---------------------------------------------------------------- data

def bulk_directory(dep: Deployment, n: int, label: str) -> str:
    """A directory of ``n`` distinct tiny .txt files, written with COPY (setup, not timed).

    Each text is unique so dedup never turns an item into ``already_processed``."""
    import hashlib

    from batchsvc.db import get_engine
    from batchsvc.models import Directory, new_id, utcnow
    from batchsvc.uow import unit_of_work

    with unit_of_work() as session:
        directory = Directory(project_id=dep.project_id, name=f"{label}-{uuid.uuid4().hex[:6]}")
        session.add(directory)
        session.flush()
        directory_id = directory.id
    now = utcnow()
    raw = get_engine().raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        with conn.cursor() as cur:
            rows = []
            for i in range(n):
                text = f"{label} document {i} {directory_id}\nsecond line of text\n".encode()
                file_id = new_id()
                rows.append((file_id, f"doc-{i:06d}.txt", text))
            with cur.copy("COPY files (id, project_id, name, size, sha256, storage_key, "
                          "content_type, purpose, created_at) FROM STDIN") as files:
                for file_id, name, text in rows:
                    files.write_row((file_id, dep.project_id, name, len(text),
                                     hashlib.sha256(text).hexdigest(),
                                     f"files/{dep.project_id}/{file_id}", "txt", "user_data",
                                     now))
            with cur.copy("COPY blobs (key, chunk, data) FROM STDIN") as blobs:
                for file_id, _, text in rows:
                    blobs.write_row((f"files/{dep.project_id}/{file_id}", 0, text))
            with cur.copy("COPY directory_files (id, directory_id, project_id, file_id, "
                          "display_name, unique_id, metadata, created_at, updated_at) "
                          "FROM STDIN") as links:
                for file_id, name, _ in rows:
                    links.write_row((new_id(), directory_id, dep.project_id, file_id, name,
                                     file_id, "{}", now, now))
        conn.commit()
    finally:
        raw.close()
    return directory_id


# ---------------------------------------------------------------- HTTP

def http_json(method: str, url: str, headers: dict[str, str], body: Any = None,
              timeout: float = 60) -> tuple[int, Any, float]:
    """(status, json, seconds) with the standard library, so timing has no hidden pool."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        payload, status = exc.read(), exc.code
    elapsed = time.perf_counter() - started
    return status, json.loads(payload or b"null"), elapsed


def create_batch(dep: Deployment, body: dict[str, Any]) -> tuple[str, float]:
    """POST a batch; return (job id, seconds the request took)."""
    status, payload, elapsed = http_json(
        "POST", f"{dep.url}/api/v1/beta/batch-processing", dep.headers(), body)
    if status != 200:
        raise RuntimeError(f"create batch answered {status}: {payload}")
    return payload["id"], elapsed


def job_row(job_id: str) -> dict[str, Any]:
    from batchsvc.models import BatchJob
    from batchsvc.uow import unit_of_work

    with unit_of_work() as session:
        job = session.get(BatchJob, job_id)
        assert job is not None
        return {"status": job.status, "created_at": job.created_at,
                "started_at": job.started_at, "completed_at": job.completed_at,
                "total_items": job.total_items, "processed_items": job.processed_items,
                "failed_items": job.failed_items, "skipped_items": job.skipped_items,
                "cancelled_items": job.cancelled_items}


def wait_job(job_id: str, timeout: float, on_tick: Callable[[], None] | None = None,
             interval: float = 0.25) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        row = job_row(job_id)
        if row["completed_at"] is not None:
            return row
        if on_tick:
            on_tick()
        time.sleep(interval)
    raise RuntimeError(f"job {job_id} did not finish in {timeout} s: {job_row(job_id)}")


# ---------------------------------------------------------------- sampling

class Sampler(threading.Thread):
    """Peak RSS per process group and periodic probes (queue length, items in flight)."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]],
                 probes: dict[str, Callable[[], float]] | None = None,
                 interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.groups, self.probes, self.interval = groups, probes or {}, interval
        self.peak_rss: dict[str, float] = dict.fromkeys(groups, 0.0)
        # Per process: its peak and the root it was found under (which worker it belongs to).
        self.peak_pid: dict[int, float] = {}
        self.root_of: dict[int, int] = {}
        self.samples: dict[str, list[float]] = {name: [] for name in self.probes}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            kids = _children_map()
            for name, roots in self.groups.items():
                for root in roots():
                    for pid in process_tree(root, kids):
                        rss = rss_mb(pid)
                        self.peak_rss[name] = max(self.peak_rss[name], rss)
                        self.peak_pid[pid] = max(self.peak_pid.get(pid, 0.0), rss)
                        self.root_of[pid] = root
            for name, probe in self.probes.items():
                try:
                    self.samples[name].append(float(probe()))
                except Exception:  # noqa: BLE001 - a failed probe is a missing sample
                    continue
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)

    def worker_peaks(self, workers: Sequence[Proc]) -> dict[str, float]:
        """Peak RSS of each worker's main process and of its largest pool process."""
        out: dict[str, float] = {}
        for worker in workers:
            pool = [rss for pid, rss in self.peak_pid.items()
                    if self.root_of.get(pid) == worker.pid and pid != worker.pid]
            out[f"{worker.label} main"] = round(self.peak_pid.get(worker.pid, 0.0), 1)
            out[f"{worker.label} pool"] = round(max(pool, default=0.0), 1)
        return out


class Probe(threading.Thread):
    """Samples one value every ``interval`` seconds until stopped (queue length, in flight)."""

    def __init__(self, read: Callable[[], float], interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.read, self.interval, self.values = read, interval, []  # type: list[float]
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.values.append(float(self.read()))
            self._stop_event.wait(self.interval)

    def stop(self) -> list[float]:
        self._stop_event.set()
        self.join(timeout=10)
        return self.values


def redis_queue_depth(redis: Any, queue: str) -> int:
    """Messages waiting in ``queue`` on Redis: kombu keeps one list per priority step
    (``parse``, ``parse:1`` …; batchsvc.messaging.configure), and batch items are sent at a
    non-zero step, so the bare name alone is nearly always empty."""
    names = redis_priority_lists(queue)
    with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(name)
        return sum(pipe.execute())


def starved_share(queue_lengths: Sequence[float]) -> float:
    """Share of samples with nothing waiting in the item queue: a worker that finishes then
    has no next item (the dispatcher is behind)."""
    return sum(1 for n in queue_lengths if n == 0) / len(queue_lengths) if queue_lengths else 0.0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_by_role(dep: Deployment) -> dict[str, float]:
    """CPU seconds so far of every process of the deployment, by role. Postgres backends are
    found by their database name in the process title."""
    kids = _children_map()
    roles: dict[str, float] = {}

    def add(role: str, pids: Sequence[int]) -> None:
        roles[role] = roles.get(role, 0.0) + sum(cpu_seconds(pid) for pid in pids)

    for worker in dep.workers:
        add(f"{worker.label} main", [worker.pid])
        add(f"{worker.label} pool", [p for p in process_tree(worker.pid, kids)
                                     if p != worker.pid])
    if dep.api is not None:
        add("api", process_tree(dep.api.proc.pid, kids))
    add("beat", [p for proc in dep.others for p in process_tree(proc.pid, kids)])
    database = dep.settings.database_url.rsplit("/", 1)[-1]
    add("postgres", [p for p in map(int, filter(str.isdigit, os.listdir("/proc")))
                     if _cmdline(p).startswith("postgres: ") and database in _cmdline(p)])
    port = dep.redis_url.rsplit(":", 1)[1].split("/")[0]
    add("redis", [p for p in map(int, filter(str.isdigit, os.listdir("/proc")))
                  if "redis-server" in _cmdline(p) and f":{port}" in _cmdline(p)])
    add("bench", [os.getpid()])
    return roles


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {role: round(after.get(role, 0.0) - before.get(role, 0.0), 2) for role in after}


# ---------------------------------------------------------------- raw Celery baseline

def make_raw_app(settings: Settings | None = None) -> Any:
    """A Celery app configured exactly like batchsvc's (same broker, backend, acks, prefetch,
    events) with two trivial tasks on its own queue: the baseline the orchestration is
    compared with."""
    from celery import Celery

    from batchsvc.messaging import configure, queue_name
    from batchsvc.settings import get_settings

    settings = settings or get_settings()
    app = Celery("bench_raw")
    configure(app, settings)
    app.conf.task_routes = {"bench.*": {"queue": queue_name("raw", settings)}}

    @app.task(name="bench.noop", acks_late=True, reject_on_worker_lost=True)
    def noop(i: int) -> dict[str, Any]:
        return {"seq": i, "status": "completed"}

    @app.task(name="bench.collect")
    def collect(results: list[Any], key: str) -> int:
        app.backend.client.set(key, repr(time.time()), ex=3600)
        return len(results)

    return app


_raw_app: Any = None


def __getattr__(name: str) -> Any:
    # ``celery -A bench.common:raw_app`` builds the app only in the worker that asks for it.
    global _raw_app
    if name == "raw_app":
        if _raw_app is None:
            _raw_app = make_raw_app()
        return _raw_app
    raise AttributeError(name)


def raw_chord(app: Any, n: int, timeout: float, page: int | None = None) -> dict[str, float]:
    """Publish one chord of ``n`` trivial tasks (or ``page``-sized chords, published one after
    the other as batchsvc pages them) and wait for the last body; seconds for each."""
    from celery import chord

    key = f"bench-done-{uuid.uuid4().hex}"
    noop, collect = app.tasks["bench.noop"], app.tasks["bench.collect"]
    started = time.time()
    size = page or n
    for start in range(0, n, size):
        last = start + size >= n
        chord(noop.s(i) for i in range(start, min(n, start + size)))(
            collect.s(key if last else f"{key}-{start}"))
    published = time.time()
    client = app.backend.client
    deadline = started + timeout
    while time.time() < deadline:
        done = client.get(key)
        if done is not None:
            return {"seconds": float(done) - started, "publish_s": published - started}
        time.sleep(0.05)
    raise RuntimeError(f"raw chord of {n} did not finish in {timeout} s")
