"""Ephemeral directories expire: the sweeper of a live stack deletes them and the files only
they hold (rows and bytes), in both modes. The lifetime is the setting under test
(``BATCHSVC_EPHEMERAL_DIRECTORY_TTL_SECONDS``), shortened to a few seconds."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from llama_cloud import APIStatusError

from tests.conformance.sdk_flow import read_bytes
from tests.conftest import Stack, base_settings, running_stack
from tests.harness import REDIS_URL, port_open

pytestmark = pytest.mark.conformance
TTL = 3


@pytest.fixture(scope="module", params=["embedded", "cluster"])
def stack(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    extra: dict[str, Any] = {}
    if request.param == "cluster":
        if not port_open(6379):
            pytest.skip("Redis is not running on 127.0.0.1:6379")
        extra = {"database_url": request.getfixturevalue("pg_url"), "broker_url": REDIS_URL}
    settings = base_settings(tmp_path_factory.mktemp(f"ephemeral-{request.param}"),
                             ephemeral_directory_ttl_seconds=TTL, **extra)
    with running_stack(settings) as live:
        yield live


def bytes_stored(stack: Stack, key: str) -> bool:
    if stack.settings.database_url:  # a cluster keeps file bytes in Postgres (db://)
        with stack.session() as session:
            return bool(session.scalar(sa.text("SELECT count(*) FROM blobs WHERE key = :k"),
                                       {"k": key}))
    return (Path(stack.settings.data_dir) / "files" / key).exists()


def storage_key(stack: Stack, file_id: str) -> str:
    with stack.session() as session:
        return session.scalar(sa.text("SELECT storage_key FROM files WHERE id = :i"),
                              {"i": file_id})


def test_sweeper_deletes_expired_directory_and_its_own_files(stack: Stack) -> None:
    client = stack.sdk()
    tag = uuid.uuid4().hex[:8]
    shared = client.files.create(file=(f"{tag}-shared.pdf", read_bytes("minimal-document.pdf")),
                                 purpose="parse")
    kept = client.beta.directories.create(name=f"kept-{tag}")
    client.beta.directories.files.add(kept.id, file_id=shared.id)
    scratch = client.beta.directories.create(name=f"scratch-{tag}", type="ephemeral")
    assert scratch.expires_at is not None
    own = client.beta.directories.files.upload(
        scratch.id, upload_file=(f"{tag}-own.docx", read_bytes("word_sample.docx")))
    client.beta.directories.files.add(scratch.id, file_id=shared.id)
    link = client.files.get(own.file_id).url
    key = storage_key(stack, own.file_id)
    assert bytes_stored(stack, key) and httpx.get(link).status_code == 200

    deadline = time.time() + TTL + 4 * stack.settings.sweep_interval_seconds
    while time.time() < deadline:
        try:
            client.beta.directories.get(scratch.id)
        except APIStatusError as error:
            assert error.status_code == 404
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the expired ephemeral directory was not deleted")
    assert scratch.id not in {d.id for d in client.beta.directories.list()}
    assert list(client.files.list(file_ids=[own.file_id])) == []
    assert httpx.get(link).status_code == 404 and not bytes_stored(stack, key)
    # A file another directory still holds stays, in that directory and as a file.
    assert [f.id for f in client.files.list(file_ids=[shared.id])] == [shared.id]
    assert [f.file_id for f in client.beta.directories.files.list(kept.id)] == [shared.id]
    assert bytes_stored(stack, storage_key(stack, shared.id))
