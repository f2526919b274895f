"""One live deployment (gunicorn API, a real worker, Postgres, Redis) for the security tests,
with a second project whose key must never see the first project's rows; and, for the edge
tests, the app in-process on SQLite or Postgres."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from batchsvc.services.auth import create_api_key
from batchsvc.settings import Settings
from tests.conftest import Stack, base_settings, new_key, running_stack, use_settings
from tests.harness import REDIS_URL, port_open, postgres_database


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not (port_open(5432) and port_open(6379)):
        pytest.skip("PostgreSQL and Redis are needed on 127.0.0.1")
    # A database of its own: its sweeper must not act on other tests' rows (the session's
    # shared database holds the unit tests' expiring directories).
    with postgres_database() as url:
        settings = base_settings(tmp_path_factory.mktemp("security"), database_url=url,
                                 broker_url=REDIS_URL)
        with running_stack(settings) as running:
            yield running


@pytest.fixture(scope="package")
def other_key(stack: Stack) -> str:
    """An API key of another project."""
    with stack.session() as session:
        return create_api_key(session, f"other-{uuid.uuid4().hex[:8]}")


@dataclass
class Edge:
    """A real app on a real database (no worker) through Flask's test client, with a key and
    one row of each kind for the routes that take ids."""

    client: Any
    key: str
    ids: dict[str, str]

    def call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.key}", **kw.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kw)


RULES = [{"type": "invoice", "description": "a bill asking for payment"},
         {"type": "letter", "description": "a personal letter"}]


def make_edge(settings: Settings) -> Edge:
    from batchsvc.app import create_app

    app = create_app(settings)
    edge = Edge(app.test_client(), new_key(), {})
    beta = "/api/v1/beta"

    def made(response: Any) -> str:
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()["id"]

    directory = made(edge.call("POST", f"{beta}/directories", json={"name": "edge"}))
    dir_file = made(edge.call("POST", f"{beta}/directories/{directory}/files/upload",
                              data={"upload_file": (io.BytesIO(b"edge text"), "e.txt")}))
    file_id = made(edge.call("POST", f"{beta}/files", data={
        "file": (io.BytesIO(b"loose text"), "l.txt"), "purpose": "parse"}))
    job = made(edge.call("POST", f"{beta}/batch-processing", json={
        "job_config": {"parameters": {}}, "item_ids": [dir_file]}))
    classifier = made(edge.call("POST", "/api/v1/classifier/jobs",
                                json={"file_ids": [file_id], "rules": RULES}))
    edge.ids.update(directory_id=directory, directory_file_id=dir_file, file_id=file_id,
                    job_id=job, classifier_job_id=classifier, item_id=dir_file)
    return edge


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def edge(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Edge]:
    """The same app on each database backend, shared by a module's tests."""
    overrides = {"database_url": request.getfixturevalue("pg_url")} \
        if request.param == "postgres" else {}
    with use_settings(base_settings(tmp_path_factory.mktemp("edge"), **overrides)) as settings:
        yield make_edge(settings)
