"""services.directories.expire_directories on SQLite and Postgres: what an expired ephemeral
directory takes with it, and what makes it wait."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from batchsvc.models import BatchJob, Directory, StoredFile, utcnow
from batchsvc.services import batches, directories
from batchsvc.settings import Settings
from batchsvc.states import JobStatus
from batchsvc.uow import unit_of_work
from tests.conftest import base_settings, batch_body, use_settings

LATER = timedelta(days=2)  # past the shipped one-day lifetime


@pytest.fixture(autouse=True, params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """SQLite, and a Postgres database of this module's own: expiry acts on every due
    directory of a database, so another module's directories must not be in it."""
    extra = {"database_url": request.getfixturevalue("module_pg_url")} \
        if request.param == "postgres" else {}
    with use_settings(base_settings(tmp_path, **extra)) as settings:
        yield settings


def scratch_with_files() -> tuple[str, str, str, str]:
    """An ephemeral directory holding one file of its own and one a user directory shares;
    (directory id, own file id, shared file id, user directory id)."""
    with unit_of_work() as session:
        scratch = directories.create_directory(session, "p1", {"name": "s", "type": "ephemeral"})
        kept = directories.create_directory(session, "p1", {"name": "k"})
        own = directories.upload_file(session, "p1", scratch.id, "own.txt",
                                      io.BytesIO(b"own words"), {})
        shared = directories.upload_file(session, "p1", kept.id, "shared.txt",
                                         io.BytesIO(b"shared words"), {})
        directories.add_file(session, "p1", scratch.id, {"file_id": shared.file_id})
        return scratch.id, own.file_id, shared.file_id, kept.id


def expire(after: timedelta) -> list[str]:
    with unit_of_work() as session:
        return directories.expire_directories(session, utcnow() + after)


def test_expired_directory_takes_only_its_own_files() -> None:
    scratch, own, shared, kept = scratch_with_files()
    assert expire(timedelta(hours=23)) == []  # not yet due
    keys = expire(LATER)
    with unit_of_work() as session:
        assert session.get(Directory, scratch).deleted_at is not None
        assert session.get(Directory, kept).deleted_at is None
        assert session.get(StoredFile, own).deleted_at is not None
        assert session.get(StoredFile, shared).deleted_at is None
        assert keys == [session.get(StoredFile, own).storage_key]
    assert expire(LATER) == []  # done once


def test_a_directory_waits_for_the_job_reading_it() -> None:
    scratch, own, _, _ = scratch_with_files()
    with unit_of_work() as session:
        job, _ = batches.create_batch(session, "p1", batch_body({
            "job_config": {"parameters": {}}, "directory_id": scratch}))
        job_id = job.id
    assert expire(LATER) == []
    with unit_of_work() as session:
        session.execute(sa.update(BatchJob).where(BatchJob.id == job_id)
                        .values(status=JobStatus.COMPLETED))
    assert len(expire(LATER)) == 1


def test_a_directory_waits_for_an_open_item_of_its_files() -> None:
    _, own, _, _ = scratch_with_files()
    with unit_of_work() as session:
        job, _ = batches.create_batch(session, "p1", batch_body({
            "job_config": {"parameters": {}}, "item_ids": [own]}))
        job_id = job.id
    assert expire(LATER) == []  # its item is pending
    with unit_of_work() as session:
        session.execute(sa.text("UPDATE job_items SET status = 'completed' WHERE job_id = :j"),
                        {"j": job_id})
    assert len(expire(LATER)) == 1
