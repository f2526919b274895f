"""The fault stack spread over four test hosts (tests/faults/netns.py), and the faults only
hosts have: one cut off the network, one crashed.

- ``api``: the API (gunicorn), beat and the control worker;
- ``w1``, ``w2``: one item worker each (prefork, 2 children);
- ``db``: a private PostgreSQL and a private Redis or RabbitMQ, bound to its address.

Everything runs at the shipped defaults; only addresses, names and directories differ. File
bytes live in Postgres (the default store with a Postgres database), so the hosts share no
files; the only shared directory is the tests' own log directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import base_settings, running_stack
from tests.faults.injections import _busy_worker
from tests.faults.netns import Host, Network
from tests.faults.scenarios import (
    FINISH_TIMEOUT,
    ITEM_QUEUES,
    FaultEnv,
    query,
    recovery_seconds,
    utc_now,
    wait_finished,
    wait_until,
)
from tests.faults.services import PrivatePostgres, PrivateRabbitMQ, PrivateRedis
from tests.harness import Cli, Worker

HOSTS = ("api", "w1", "w2", "db")
WORKER_HOSTS = ("w1", "w2")
# How long a returning host may take to retry the write it was cut off in: a TCP segment
# retransmitted across a 60 s outage waits up to another ~60 s of backoff after the link is
# back (Linux doubles the interval up to 120 s).
RETURN_TIMEOUT = 180.0
FENCED = "was taken over while it ran; this result was discarded"


@dataclass
class HostsEnv(FaultEnv):
    net: Network = field(kw_only=True)
    # item worker name -> the host it runs on
    placed: dict[str, Host] = field(default_factory=dict, kw_only=True)

    def start_beat(self) -> Cli:
        beat = self.beat = Cli(self.stack.settings, "beat", wrap=self.net["api"].wrap)
        beat.wait_for(lambda: "beat: Starting" in beat.text(), "beat to start")
        return beat

    def ensure_item_workers(self) -> list[Worker]:
        """One live item worker on each worker host (a crashed host's is started again)."""
        self.item_workers = [w for w in self.item_workers if w.proc.poll() is None]
        staffed = {self.placed[w.name].name for w in self.item_workers}
        for name in WORKER_HOSTS:
            if name not in staffed:
                worker = self.stack.add_worker(queues=ITEM_QUEUES, concurrency=2,
                                               wrap=self.net[name].wrap)
                self.placed[worker.name] = self.net[name]
                self.item_workers.append(worker)
        return self.item_workers


@contextmanager
def hosts_env(tmp: Path, broker: str = "redis") -> Iterator[HostsEnv]:
    with ExitStack() as cleanup:
        net = Network(HOSTS)
        cleanup.callback(net.close)  # last: kills whatever still runs on a host
        # A failed test may leave a host cut off: bring it back so processes stop cleanly.
        cleanup.callback(lambda: [host.restore() for host in net.hosts.values()])
        db, api = net["db"], net["api"]
        pg = PrivatePostgres(db.address, 5432, db.wrap)
        cleanup.callback(pg.close)
        queues: PrivateRedis | PrivateRabbitMQ = (
            PrivateRedis(db.address, 6379, db.wrap) if broker == "redis"
            else PrivateRabbitMQ(db.address, 5672, db.wrap))
        cleanup.callback(queues.close)
        settings = base_settings(tmp, database_url=pg.url, broker_url=queues.url)
        stack = cleanup.enter_context(running_stack(
            settings, workers=0, server_kw={"host": api.address, "port": 8000,
                                            "wrap": api.wrap}))
        stack.add_worker(queues=("control", "webhooks"), concurrency=2, wrap=api.wrap)
        redis = queues if isinstance(queues, PrivateRedis) else None
        env = HostsEnv(pg, redis, stack, net=net)
        cleanup.callback(env.close)
        yield env


def _held_by(env: HostsEnv, worker: Worker) -> list[Any]:
    """Items ``worker`` is processing: their claim token is a task id in its log."""
    log = worker.log_path.read_text(errors="replace")
    return [row for row in query(env.stack, "select seq, job_id, attempts, claim_token from "
                                 "job_items where status = 'processing'")
            if row.claim_token and row.claim_token in log]


def _snapshot(env: HostsEnv, seqs: list[int]) -> dict[int, tuple[Any, ...]]:
    """What another worker's finish left on each item: its row and its lineage."""
    rows = query(env.stack, "select i.seq, i.status, i.attempts, i.claim_token, i.result_id, "
                 "i.completed_at, count(p.id) as lineage from job_items i left join "
                 "processing_results p on p.item_id = i.item_id and p.job_id = i.job_id "
                 "where i.seq = any(:s) group by i.seq", s=seqs)
    return {row.seq: tuple(row) for row in rows}


def _victim(env: HostsEnv) -> tuple[Worker, Host, list[Any]]:
    victim = _busy_worker(env)
    held = wait_until(lambda: _held_by(env, victim), 30, "the busy worker's claims")
    return victim, env.placed[victim.name], held


def cut_host(env: HostsEnv) -> dict[str, Any]:
    """Cut a busy worker's host off mid-item; keep it off until the other worker has
    finished the batch (past the lease); bring it back and let it try to write."""
    victim, host, held, cut_at, began = _cut_mid_item(env)
    seqs, job_id = [row.seq for row in held], held[0].job_id
    settings = env.stack.settings
    try:
        with suppress(TimeoutError):  # reported by the outcome: the job did not finish
            wait_finished(env.stack, job_id, FINISH_TIMEOUT)
        past_lease = settings.item_lease_seconds + settings.sweep_interval_seconds
        time.sleep(max(0.0, past_lease - (time.monotonic() - began)))
        before = _snapshot(env, seqs)
    finally:
        host.restore()
    down = time.monotonic() - began
    back = wait_until(lambda: _back(victim, held), RETURN_TIMEOUT,
                      "the returning worker to end the items it held")
    return {"victim": victim.name, "host": host.name, "held": seqs,
            "attempts": {row.seq: row.attempts for row in held},
            "down_seconds": round(down, 1),
            "victim_recovery_seconds": recovery_seconds(env.stack, seqs, cut_at),
            "tried_seconds": round(time.monotonic() - began - down, 1),
            "back": back, "before": before, "after": _snapshot(env, seqs)}


def _cut_mid_item(env: HostsEnv, tries: int = 3) -> tuple[Worker, Host, list[Any], Any, float]:
    """Cut the busy worker's host; what it still held once the link was down (an item
    that finished just before the cut was not cut off: then bring the host back, try again).
    """
    for _ in range(tries):
        victim, host, _ = _victim(env)
        cut_at, began = utc_now(), time.monotonic()
        host.cut()
        held = _held_by(env, victim)
        if held:
            return victim, host, held, cut_at, began
        host.restore()
    raise RuntimeError(f"no item was in flight on a cut-off host in {tries} tries")


def _back(worker: Worker, held: list[Any]) -> dict[int, str] | None:
    """How the returning worker ended each item it held, once it has ended them all:
    ``refused`` (its write was fenced), ``terminated`` (Celery cancelled the task when it
    found its broker connection gone), ``worker exited`` (with the worker's last error)."""
    text = worker.log_path.read_text(errors="replace")
    ended: dict[int, str] = {}
    for row in held:
        if f"item {row.seq}: claim {row.attempts} {FENCED}" in text:
            ended[row.seq] = "refused"
        elif f"[{row.claim_token}] cannot be acknowledged after a connection loss" in text:
            ended[row.seq] = "terminated"
        elif worker.proc.poll() is not None:
            errors = [line for line in text.splitlines() if "Unrecoverable error" in line]
            ended[row.seq] = f"worker exited: {(errors or ['?'])[-1][:200]}"
    return ended if len(ended) == len(held) else None


def kill_host(env: HostsEnv) -> dict[str, Any]:
    """SIGKILL every process on a busy worker's host (a crashed machine); none replaced."""
    victim, host, held = _victim(env)
    cut_at = utc_now()
    killed = host.kill()
    victim.proc.wait(timeout=30)
    seqs = [row.seq for row in held]
    wait_until(lambda: recovery_seconds(env.stack, seqs, cut_at) is not None, FINISH_TIMEOUT,
               "the crashed host's items to run again")
    return {"victim": victim.name, "host": host.name, "held": seqs, "killed": killed,
            "attempts": {row.seq: row.attempts for row in held},
            "victim_recovery_seconds": recovery_seconds(env.stack, seqs, cut_at),
            "survivors": [w.name for w in env.item_workers if w.proc.poll() is None]}


HOST_FAULTS: dict[str, Callable[[HostsEnv], dict[str, Any]]] = {
    "host cut off": cut_host,
    "kill -9 host": kill_host,
}
