"""Light items travel in chunks: which items are light, how chunks are cut, and a chunk's
message processing each of its items once."""

from __future__ import annotations

import io
from types import SimpleNamespace

import sqlalchemy as sa

from batchsvc.models import JobItem
from batchsvc.services import directories, pipeline
from batchsvc.services.dispatch import CHUNK_ITEMS, chunked
from batchsvc.settings import Settings
from batchsvc.uow import unit_of_work
from tasks.items import as_seqs, run_items
from tests.unit.test_item_path import PROJECT, published_page


def test_chunks_group_consecutive_light_items_only() -> None:
    seqs = list(range(1, 21))
    light = set(seqs) - {5, 6}
    chunks = chunked(seqs, light)
    assert [s for chunk in chunks for s in chunk] == seqs  # order kept, nothing lost
    assert [5] in chunks and [6] in chunks  # heavy items travel alone
    assert max(len(c) for c in chunks) == CHUNK_ITEMS
    assert all(set(c) <= light for c in chunks if len(c) > 1)
    assert chunked(seqs, set()) == [[s] for s in seqs]
    assert chunked([], set()) == []


def test_a_message_argument_is_one_seq_or_a_list() -> None:
    assert as_seqs(7) == [7]  # messages queued before chunks existed
    assert as_seqs([3, 4]) == [3, 4]


def upload(files: dict[str, bytes]) -> str:
    with unit_of_work() as session:
        directory = directories.create_directory(session, PROJECT, {"name": "d"})
        for name, data in files.items():
            directories.upload_file(session, PROJECT, directory.id, name, io.BytesIO(data), {})
        return directory.id


def test_small_text_files_are_light_and_a_chunk_completes_each(db: Settings) -> None:
    files = {f"note{i}.txt": f"note number {i}".encode() for i in range(10)}
    files["big.txt"] = b"word " * (pipeline.LIGHT_BYTES // 4)
    files["table.csv"] = b"a,b\n1,2\n"
    job_id, seqs = published_page({"directory_id": upload(files)})
    with unit_of_work() as session:
        light = pipeline.light_items(session, seqs)
        names = dict(session.execute(sa.select(JobItem.seq, JobItem.item_name)
                                     .where(JobItem.seq.in_(seqs))).all())
    assert {names[s] for s in set(seqs) - light} == {"big.txt"}
    chunks = chunked(seqs, light)
    assert len(chunks) < len(seqs)
    task = SimpleNamespace(request=SimpleNamespace(id="msg-1", retries=0))
    outcomes = [o for chunk in chunks for o in run_items(task, chunk)]  # type: ignore[arg-type]
    assert [o["seq"] for o in outcomes] == seqs
    assert {o["status"] for o in outcomes} == {"completed"}
    # A redelivered chunk finds its items finished.
    again = run_items(task, chunks[0])  # type: ignore[arg-type]
    assert {o["status"] for o in again} == {"noop"}
    with unit_of_work() as session:
        statuses = set(session.scalars(sa.select(JobItem.status)
                                       .where(JobItem.job_id == job_id)))
    assert statuses == {"completed"}
    with unit_of_work() as session:
        assert pipeline.light_items(session, []) == set()
