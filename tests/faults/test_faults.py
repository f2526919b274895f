"""Faults injected mid-batch; afterwards every item is accounted for, exactly once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.faults.scenarios import FaultEnv, Outcome, run_fault

pytestmark = pytest.mark.faults


def _assert_accounted(result: Outcome) -> None:
    # Tiny text files and a readable scan: after recovery every item must have completed.
    assert result.accounted, result
    assert result.status == "completed", result
    assert result.counts == {"completed": result.total}, result


def _max_attempts(env: FaultEnv, job_id: str) -> int:
    with env.stack.session() as session:
        return session.execute(sa.text("select max(attempts) from job_items where job_id = :j"),
                               {"j": job_id}).scalar_one()


def test_kill_whole_worker_mid_batch(env: FaultEnv) -> None:
    killed = env.item_worker
    [result] = run_fault(env, "kill -9 worker")
    assert killed.proc.poll() is not None and env.item_worker is not killed
    _assert_accounted(result)
    # The killed worker's item was claimed again after its lease ran out.
    assert _max_attempts(env, result.job_id) >= 2


def test_kill_pool_child_mid_item(env: FaultEnv) -> None:
    worker = env.ensure_item_worker()
    [result] = run_fault(env, "kill -9 pool child")
    assert worker.proc.poll() is None, "the worker itself must survive a lost pool child"
    _assert_accounted(result)
    assert _max_attempts(env, result.job_id) >= 2


def test_redis_restart_mid_batch(env: FaultEnv) -> None:
    results = run_fault(env, "redis restart")
    # The API accepted a batch while the broker was down; the sweeper dispatched it later.
    assert results[0].api_checks["create_while_down"] == 200
    assert len(results) == 2
    for result in results:
        _assert_accounted(result)


def test_postgres_restart_mid_batch(env: FaultEnv) -> None:
    [result] = run_fault(env, "postgres restart")
    checks = result.api_checks
    assert checks["api_status"] == 503
    assert checks["api_body"] == {"detail": "the database is unavailable; retry shortly"}
    assert checks["ready_status"] == 503
    assert checks["ready_body"]["checks"]["database"].startswith("unavailable")
    _assert_accounted(result)
