"""A classify job is refined over all its items once they are done: the answers equal the
engine's own batch mode on the same texts, whatever the page size; a one-file job keeps its
per-file answer (nothing to refine with)."""

from __future__ import annotations

import csv
import io
import json
from functools import cache

import sqlalchemy as sa

from batchsvc.engines.classify import (
    REFINE_MIN_DOCS,
    classify_text,
    classify_texts,
    refine_evidence,
)
from batchsvc.models import BatchJob, ClassifyEvidence, JobItem, ProcessingResult
from batchsvc.services import batches, directories, pipeline, refinement
from batchsvc.services.items.process import process_item
from batchsvc.settings import Settings
from batchsvc.uow import unit_of_work
from tests.conftest import batch_body
from tests.harness import SHARED

PROJECT = "p-refine"
# Enough for refinement (REFINE_MIN_DOCS confident documents and more) and for it to change
# an answer (one of the first 60 held-out articles here).
DOCUMENTS = 60


@cache
def held_out_rows() -> list[dict[str, str]]:
    """The held-out BBC articles (read from ../shared at run time)."""
    csv.field_size_limit(10**8)
    with (SHARED / "classify" / "bbc_500.csv").open(newline="", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["split"] != "train"]


@cache
def bbc() -> tuple[list[dict], list[str]]:
    """The first held-out BBC articles, and the rules."""
    rules = json.loads((SHARED / "classify" / "rules.json").read_text())
    return rules, [r["text"] for r in held_out_rows()[:DOCUMENTS]]


@cache
def refined_singles() -> list[str | None]:
    """The engine's refinement over the texts classified one by one: what a job must give."""
    rules, texts = bbc()
    refined = refine_evidence([classify_text(t, rules).evidence  # type: ignore[misc]
                               for t in texts], rules)
    assert refined is not None
    return [r.type if r else None for r in refined]


def test_refining_one_by_one_matches_the_engines_batch_mode() -> None:
    rules, texts = bbc()
    batch = [c.type for c in classify_texts(texts, rules)]
    singles = [classify_text(t, rules).type for t in texts]
    refined = refined_singles()
    # The same refinement; an answer differs only where the encoder's padding of a batch of
    # texts (int8 ONNX) moved a document near a boundary.
    assert sum(r == b for r, b in zip(refined, batch, strict=True)) >= 0.95 * len(texts)
    # Refinement was worth doing: it changed some per-file answer.
    assert refined != singles


def _run_job(page_size: int, texts: list[str], rules: list[dict]) -> dict[str, str | None]:
    """A classify directory job through dispatch, item tasks and page callbacks, in process;
    {file name: type} once the job has completed."""
    with unit_of_work() as session:
        directory = directories.create_directory(session, PROJECT, {"name": "bbc"})
        for i, text in enumerate(texts):
            directories.upload_file(session, PROJECT, directory.id, f"a{i:03d}.txt",
                                    io.BytesIO(text.encode()), {})
        job, _ = batches.create_batch(session, PROJECT, batch_body({
            "job_config": {"rules": rules, "mode": "FAST"}, "directory_id": directory.id,
            "page_size": page_size}))
        job_id = job.id
    with unit_of_work() as session:
        pipeline.claim_dispatch(session, job_id)
    state = "more"
    while state == "more":
        with unit_of_work() as session:
            claimed = pipeline.claim_next_page(session, job_id)
        for seq in claimed[1] if claimed else []:
            process_item(seq)
        with unit_of_work() as session:
            state = pipeline.advance(session, job_id)
    if len(texts) > 1:
        assert state == "refining"
        refinement.refine_job(job_id)
        with unit_of_work() as session:
            state = pipeline.advance(session, job_id)
    assert state == "finalized"
    with unit_of_work() as session:
        assert session.get(BatchJob, job_id).status == "completed"  # type: ignore[union-attr]
        assert not session.scalar(sa.select(sa.func.count()).select_from(ClassifyEvidence)
                                  .where(ClassifyEvidence.job_id == job_id))
        rows = session.execute(sa.select(JobItem.item_name, ProcessingResult.output_metadata)
                               .join(ProcessingResult, ProcessingResult.id == JobItem.result_id)
                               .where(JobItem.job_id == job_id)).all()
    return {name: meta["type"] for name, meta in rows}


def test_a_job_is_refined_the_same_whatever_its_page_size(db: Settings) -> None:
    rules, texts = bbc()
    small = _run_job(7, texts, rules)
    # Other bytes (a trailing space) for the second job, or it would reuse the first's results.
    large = _run_job(50, [t + " " for t in texts], rules)
    names = [f"a{i:03d}.txt" for i in range(len(texts))]
    assert [small[n] for n in names] == [large[n] for n in names] == refined_singles()


def test_a_job_the_engine_cannot_refine_completes_with_its_per_file_answers(
        sqlite_settings: Settings) -> None:
    """Enough documents to ask for a refinement (REFINE_MIN_DOCS), too few per rule for the
    engine to refine with: the job still completes, each file keeping its own answer (on the
    embedded store, whose evidence is written beside its result)."""
    rules, _ = bbc()
    by_label: dict[str, list[str]] = {}
    for row in held_out_rows():
        by_label.setdefault(row["label"], []).append(row["text"])
    texts = [t for label in sorted(by_label) for t in by_label[label][:4]]
    assert len(texts) >= REFINE_MIN_DOCS
    assert refine_evidence([classify_text(t, rules).evidence  # type: ignore[misc]
                            for t in texts], rules) is None
    answers = _run_job(10, texts, rules)
    assert [answers[f"a{i:03d}.txt"] for i in range(len(texts))] == \
        [classify_text(t, rules).type for t in texts]


def test_a_one_file_job_keeps_its_own_answer(sqlite_settings: Settings) -> None:
    rules, texts = bbc()
    answer = _run_job(10, texts[:1], rules)
    assert answer == {"a000.txt": classify_text(texts[0], rules).type}
