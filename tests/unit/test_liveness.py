"""Claims, leases and fencing on both databases (docs/liveness.md): a live holder keeps its
item however long it takes; a holder that lost its claim writes nothing; the sweeper re-sends
exactly what has no live holder or no message."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import sqlalchemy as sa

from batchsvc.models import ClassifyEvidence, JobItem, ProcessingResult, utcnow
from batchsvc.services import pipeline, recovery
from batchsvc.services.items import get_store, heartbeat
from batchsvc.services.items.store import Claim, KeptEvidence
from batchsvc.settings import Settings, get_settings
from batchsvc.states import ItemStatus
from batchsvc.uow import unit_of_work
from tests.conftest import dispatched_directory_job

PROJECT = "p-live"


def published(n: int = 2) -> list[int]:
    """A job's first page, published the way dispatch does."""
    job_id = dispatched_directory_job(PROJECT, n)
    with unit_of_work() as session:
        claimed = pipeline.claim_next_page(
            session, job_id, get_settings().item_queue_timeout_seconds)
    assert claimed is not None
    return claimed[1]


def claim(seq: int, token: str) -> Claim:
    found = get_store().claim(seq, token)
    assert found is not None
    return found


def expire(seq: int) -> None:
    """What a lease looks like once its holder stopped renewing it."""
    with unit_of_work() as session:
        session.execute(sa.update(JobItem).where(JobItem.seq == seq)
                        .values(lease_until=utcnow() - timedelta(seconds=1)))


def row(seq: int) -> JobItem:
    with unit_of_work() as session:
        return session.get(JobItem, seq)  # type: ignore[return-value]


def test_a_live_lease_is_not_taken_and_an_expired_one_is(db: Settings) -> None:
    [seq, _] = published()
    first = claim(seq, "task-a")
    assert get_store().claim(seq, "task-b") is None
    expire(seq)
    second = claim(seq, "task-b")
    assert (first.attempt, second.attempt) == (1, 2)


def test_a_holder_that_lost_its_claim_writes_nothing(db: Settings) -> None:
    [seq, _] = published()
    old = claim(seq, "task-a")
    expire(seq)
    new = claim(seq, "task-b")
    # The old holder comes back (it was cut off, or stopped): its renewal, its result and its
    # finish are all refused, and nothing of its output is kept.
    store = get_store()
    assert not store.renew(seq, old.attempt)
    vector = KeptEvidence(b"\0" * 16, True)
    assert not store.store_result(old, b'{"stale": true}', {"pages": 1}, vector)
    assert not store.finish(old, ItemStatus.FAILED, error="stale")
    assert row(seq).status == "processing"
    with unit_of_work() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ProcessingResult)
                              .where(ProcessingResult.job_id == new.job_id)) == 0
        assert not session.scalars(sa.select(ClassifyEvidence.result_id)
                                   .where(ClassifyEvidence.job_id == new.job_id)).all()
    # The new holder finishes normally, with the one lineage record (and its evidence).
    assert store.renew(seq, new.attempt)
    assert store.store_result(new, b'{"pages": []}', {"pages": 0}, vector)
    done = row(seq)
    assert done.status == "completed" and done.result_id is not None
    with unit_of_work() as session:
        results = session.scalars(sa.select(ProcessingResult.id)
                                  .where(ProcessingResult.job_id == new.job_id)).all()
    assert results == [done.result_id]
    with unit_of_work() as session:
        assert session.scalars(sa.select(ClassifyEvidence.result_id)
                               .where(ClassifyEvidence.job_id == new.job_id)).all() == results


def test_renewal_moves_the_lease_forward(db: Settings) -> None:
    [seq, _] = published()
    held = claim(seq, "task-a")
    before = row(seq).lease_until
    time.sleep(0.05)
    assert get_store().renew(seq, held.attempt)
    assert row(seq).lease_until > before


def test_the_heartbeat_renews_until_the_items_hard_limit(db: Settings) -> None:
    """At the shipped lease, an item held past one renewal interval has its lease renewed by
    the process's heartbeat thread without the item doing anything, unless it is past its
    hard limit (a hung item is left to expire)."""
    alive, hung = published()
    held_alive = claim(alive, "task-a")
    held_hung = claim(hung, "task-b")
    first = {seq: row(seq).lease_until for seq in (alive, hung)}
    with heartbeat.holding(alive, held_alive.attempt, 120) as lease, \
            heartbeat.holding(hung, held_hung.attempt, 0.0):
        time.sleep(get_settings().heartbeat_seconds * 1.4)
        assert not lease.lost
    assert row(alive).lease_until > first[alive]
    assert row(hung).lease_until == first[hung]


def test_the_sweeper_finds_expired_claims_and_lost_messages(db: Settings) -> None:
    settings = get_settings()
    seqs = published(3)
    held = claim(seqs[0], "task-a")
    claim(seqs[1], "task-b")
    expire(seqs[0])
    now = utcnow()
    with unit_of_work() as session:
        # (The Postgres database is shared with other tests: look at this job's items.)
        assert [r.seq for r in recovery.expired_claims(session, now) if r.seq in seqs] == \
            [seqs[0]]
        # Queued moments ago, the third item's message is not presumed lost, even with an
        # empty queue; long enough ago and with an empty queue, it is.
        recent = now - timedelta(seconds=2 * settings.sweep_interval_seconds)
        def lost(types: tuple[str, ...], before: datetime) -> list[int]:
            return [r.seq for r in recovery.unclaimed_items(session, now, types, before)
                    if r.seq in seqs]

        assert lost(("parse",), recent) == []
        later = now + timedelta(seconds=1)
        assert lost(("parse",), later) == [seqs[2]]
        assert lost((), later) == []
        moved = recovery.requeue(session, [seqs[0], seqs[1], seqs[2]],
                                 settings.item_queue_timeout_seconds)
    # The live claim stays with its holder.
    assert sorted(moved) == [seqs[0], seqs[2]]
    assert [row(s).status for s in seqs] == ["pending", "processing", "pending"]
    assert held.attempt == 1
