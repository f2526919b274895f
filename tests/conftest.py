"""Fixtures: settings per mode, a migrated database, an API key, live servers and workers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from batchsvc.settings import Settings, set_settings
from tests.harness import (
    REDIS_URL,
    ServerProcess,
    Worker,
    port_open,
    postgres_database,
)
from tests.s3_server import S3Server, moto_server

# The service's own bucket and a user's input and output buckets: the service's IAM user may
# use these; S3_FORBIDDEN exists but is not granted to it.
S3_BUCKETS = ("svc", "user-in", "user-out")
S3_FORBIDDEN = "forbidden"


@contextmanager
def use_settings(settings: Settings) -> Iterator[Settings]:
    """Make ``settings`` the process-wide settings for the API, services and task sending."""
    from batchsvc.api import auth
    from batchsvc.db import reset_engine
    from batchsvc.messaging import reconfigure
    from batchsvc.migrate import upgrade

    set_settings(settings)
    reset_engine()
    reconfigure(settings)
    auth._cache.clear()
    upgrade()
    try:
        yield settings
    finally:
        reset_engine()
        set_settings(None)


def new_key(project: str = "default") -> str:
    from batchsvc.services.auth import create_api_key
    from batchsvc.uow import unit_of_work

    with unit_of_work() as session:
        return create_api_key(session, project)


@dataclass
class Stack:
    """A running deployment: API server process, worker processes, its own database."""

    settings: Settings
    key: str
    url: str
    workers: list[Worker]
    server: ServerProcess | None = None

    @contextmanager
    def session(self) -> Iterator[Any]:
        """A database session on this stack's database, independent of global settings."""
        from sqlalchemy.orm import Session

        from batchsvc.db import make_engine

        engine = make_engine(self.settings)
        try:
            with Session(engine) as session, session.begin():
                yield session
        finally:
            engine.dispose()

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def sdk(self, key: str | None = None) -> Any:
        from llama_cloud import LlamaCloud

        return LlamaCloud(api_key=key or self.key, base_url=self.url, max_retries=0)

    def add_worker(self, **kw: Any) -> Worker:
        worker = Worker(self.settings, **kw)
        self.workers.append(worker)
        return worker


def base_settings(tmp: Path, **overrides: Any) -> Settings:
    """The shipped defaults, but for where things live (a directory, a queue namespace),
    plain-text logs to read, and webhooks to the tests' own loopback receivers."""
    return Settings(data_dir=str(tmp), namespace=f"t{uuid.uuid4().hex[:8]}-", log_json=False,
                    webhook_allow_private_networks=True, **overrides)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    if not port_open(5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def module_pg_url() -> Iterator[str]:
    """A database of the module's own, for its live stacks: what a stack finds already
    processed (and reuses) never depends on which modules ran before on this process."""
    if not port_open(5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    with postgres_database() as url:
        yield url


@contextmanager
def running_stack(settings: Settings, *, workers: int = 1,
                  server_kw: dict[str, Any] | None = None, **worker_kw: Any) -> Iterator[Stack]:
    """Migrate, then start the API and workers as processes configured by environment, so
    several stacks (embedded and cluster) can run side by side in one test session.
    ``server_kw`` goes to ServerProcess (its address, the host it runs on)."""
    with use_settings(settings):
        pass  # applies the migrations
    key = f"llx-test-{uuid.uuid4().hex}"
    stack = Stack(settings, key, "", [], ServerProcess(settings, key, **(server_kw or {})))
    assert stack.server is not None
    stack.url = stack.server.url
    try:
        for _ in range(workers):
            stack.add_worker(beat=not stack.workers, **worker_kw)
        yield stack
    finally:
        for worker in stack.workers:
            worker.stop()
        stack.server.stop()


@pytest.fixture(scope="module")
def cluster_stack(module_pg_url: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Stack]:
    """Postgres + Redis + a real worker (with the sweeper) + the API on a socket."""
    if not port_open(6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    settings = base_settings(tmp_path_factory.mktemp("cluster"), database_url=module_pg_url,
                             broker_url=REDIS_URL)
    with running_stack(settings) as stack:
        yield stack


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on loopback with the buckets above and the service's IAM user."""
    with moto_server() as server:
        for name in (*S3_BUCKETS, S3_FORBIDDEN):
            server.bucket(name)
        try:
            yield server
        finally:
            # The next server may get this port; its (reset) moto has no such user.
            _S3_USERS.pop(server.endpoint, None)


def s3_settings(settings: Settings, server: S3Server, endpoint: str | None = None,
                **overrides: Any) -> Settings:
    """``settings`` storing in ``s3://svc/batchsvc`` as the service's IAM user."""
    if server.endpoint not in _S3_USERS:
        _S3_USERS[server.endpoint] = server.user("batchsvc", list(S3_BUCKETS))
    access, secret = _S3_USERS[server.endpoint]
    values: dict[str, Any] = {
        "storage_url": "s3://svc/batchsvc", "s3_endpoint_url": endpoint or server.endpoint,
        "s3_access_key_id": access, "s3_secret_access_key": secret}
    return replace(settings, **(values | overrides))


_S3_USERS: dict[str, tuple[str, str]] = {}


@pytest.fixture(scope="module")
def s3_cluster_stack(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[Stack]:
    """The cluster stack (its own Postgres database, Redis, a worker) with files and results
    in the moto server's ``svc`` bucket."""
    if not (port_open(5432) and port_open(6379)):
        pytest.skip("PostgreSQL and Redis are needed on 127.0.0.1")
    with postgres_database() as url:
        settings = s3_settings(base_settings(tmp_path_factory.mktemp("s3"), database_url=url,
                                             broker_url=REDIS_URL), s3_server)
        with running_stack(settings) as stack:
            yield stack


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """SQLite + the filesystem broker, no services at all."""
    settings = base_settings(tmp_path_factory.mktemp("embedded"))
    with running_stack(settings) as stack:
        yield stack


@pytest.fixture()
def sqlite_settings(tmp_path: Path) -> Iterator[Settings]:
    """Services and schemas on a throwaway SQLite database (no worker)."""
    with use_settings(base_settings(tmp_path)) as settings:
        yield settings


@pytest.fixture()
def pg_settings(pg_url: str, tmp_path: Path) -> Iterator[Settings]:
    with use_settings(base_settings(tmp_path, database_url=pg_url)) as settings:
        yield settings


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """The test once on SQLite (embedded) and once on Postgres (cluster)."""
    yield request.getfixturevalue(f"{'pg' if request.param == 'postgres' else 'sqlite'}"
                                  "_settings")


def batch_body(body: dict[str, Any]) -> dict[str, Any]:
    """A create-batch request body as the API hands it to the service (schema-loaded)."""
    from schemas.batch import BatchCreateSchema

    return BatchCreateSchema().load(body)


def dispatched_directory_job(project: str, n: int) -> str:
    """A directory job over ``n`` small text files, claimed for dispatch (no page yet)."""
    import io

    from batchsvc.services import batches, directories, pipeline
    from batchsvc.uow import unit_of_work

    with unit_of_work() as session:
        directory = directories.create_directory(session, project, {"name": "d"})
        for i in range(n):
            directories.upload_file(session, project, directory.id, f"f{i}.txt",
                                    io.BytesIO(f"text {i}".encode()), {})
        job, _ = batches.create_batch(session, project, batch_body({
            "job_config": {"parameters": {}}, "directory_id": directory.id}))
        job_id = job.id
    with unit_of_work() as session:
        pipeline.claim_dispatch(session, job_id)
    return job_id


def with_overrides(settings: Settings, **kw: Any) -> Settings:
    return replace(settings, **kw)
