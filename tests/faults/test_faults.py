"""Faults injected mid-batch at the shipped defaults; afterwards every item is accounted for,
exactly once, and what was in flight ran again (bench/faults.py times it)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.faults.scenarios import FaultEnv, Outcome, run_fault

pytestmark = pytest.mark.faults


def assert_accounted(result: Outcome) -> None:
    # Tiny text files and readable scans: after recovery every item must have completed.
    assert result.accounted, result
    assert result.status == "completed", result
    assert result.counts == {"completed": result.total}, result
    assert result.recovery_seconds is not None, result


def max_attempts(env: FaultEnv, job_id: str) -> int:
    with env.stack.session() as session:
        return session.execute(sa.text("select max(attempts) from job_items where job_id = :j"),
                               {"j": job_id}).scalar_one()


def test_kill_whole_worker_the_other_one_finishes(env: FaultEnv) -> None:
    [result] = run_fault(env, "kill -9 worker")
    assert len(result.api_checks["survivors"]) == 1
    assert_accounted(result)
    # The killed worker's items were claimed again once their leases ran out.
    assert max_attempts(env, result.job_id) >= 2


# A pool child killed mid-item; beat killed, then a busy worker while beat is down (its
# items wait for the first sweep after beat returns).
@pytest.mark.parametrize("fault", ["kill -9 pool child", "beat restart"])
def test_items_in_flight_run_again(env: FaultEnv, fault: str) -> None:
    run_again(env, fault)


def run_again(env: FaultEnv, fault: str) -> Outcome:
    """One run of ``fault``: the batch is accounted for and its items in flight ran again."""
    [result] = run_fault(env, fault)
    assert_accounted(result)
    assert max_attempts(env, result.job_id) >= 2
    return result


def test_rolling_restart_of_every_worker(env: FaultEnv) -> None:
    results = run_fault(env, "rolling restart")
    grace = env.stack.settings.worker_shutdown_grace_seconds
    # Each stop took the grace at most (plus the cold shutdown), never the long item's time.
    assert all(s < grace + 20 for s in results[0].api_checks["stop_seconds"]), results
    assert_accounted(results[0])
    assert results[1].accounted and results[1].status == "completed", results[1]
    # The long scan outlived the grace of the worker running it: handed back to the broker,
    # and its own message (same claim token) re-claimed it on a live worker, without the
    # sweeper (which would have sent a new message) and without waiting for its lease.
    assert max_attempts(env, results[1].job_id) >= 2
    with env.stack.session() as session:
        token = session.execute(sa.text("select claim_token from job_items where job_id = :j"),
                                {"j": results[1].job_id}).scalar_one()
    assert token == results[0].api_checks["long_item_token"]


def test_redis_restart_mid_batch(env: FaultEnv) -> None:
    results = run_fault(env, "redis restart")
    # The API accepted a batch while the broker was down; the sweeper dispatched it later.
    assert results[0].api_checks["create_while_down"] == 200
    assert len(results) == 2
    assert_accounted(results[0])
    assert results[1].accounted and results[1].status == "completed", results[1]


def test_postgres_restart_mid_batch(env: FaultEnv) -> None:
    [result] = run_fault(env, "postgres restart")
    checks = result.api_checks
    assert checks["api_status"] == 503
    assert checks["api_body"] == {"detail": "the database is unavailable; retry shortly"}
    assert checks["ready_status"] == 503
    assert checks["ready_body"]["checks"]["database"].startswith("unavailable")
    assert_accounted(result)


def test_api_killed_mid_request(env: FaultEnv) -> None:
    results = run_fault(env, "kill -9 api")
    checks = results[0].api_checks
    assert checks["requests"] >= 3
    # Every client that lost its answer got one on retry, and each key made one job.
    assert all(status == 200 for status in checks["retried"].values()), checks
    assert len(set(checks["created_jobs"])) == checks["keys"], checks
    for result in results:
        assert result.accounted and result.status == "completed", result
