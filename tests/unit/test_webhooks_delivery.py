"""The delivery state machine on a real (SQLite) database, run in-process against a real
receiver: order per configuration, 410, retries and exhaustion, send-time refusal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from batchsvc.models import BatchJob, WebhookAttempt, WebhookDelivery, utcnow
from batchsvc.services.batches import new_job
from batchsvc.settings import Settings
from batchsvc.uow import unit_of_work
from batchsvc.webhooks.delivery import deliver
from batchsvc.webhooks.outbox import record_event
from tests.conftest import base_settings, use_settings, with_overrides
from tests.webhook_receiver import Receiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    return with_overrides(base_settings(tmp_path), webhook_timeout_seconds=2.0,
                          webhook_retry_base_seconds=60.0, webhook_max_attempts=2, **kw)


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Settings]:
    with use_settings(_settings(tmp_path)) as settings:
        yield settings


def _job(configs: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
    """A job (its pending event recorded), plus running and success: {state: delivery id}."""
    with unit_of_work() as session:
        job = new_job(session, "p1", "parse", {"parameters": {
            "webhook_configurations": configs}}, items=[])
        for state in ("running", "success"):
            job.status = {"running": "running", "success": "completed"}[state]
            record_event(session, job, state)
        rows = session.scalars(sa.select(WebhookDelivery).where(
            WebhookDelivery.job_id == job.id)).all()
        return job.id, {r.event_type.split(".")[1]: r.id for r in rows
                        if r.config_index == 0}


def _status(delivery_id: str) -> str:
    with unit_of_work() as session:
        return session.get(WebhookDelivery, delivery_id).status  # type: ignore[union-attr]


def test_one_configuration_hears_events_in_order(db: Settings, receiver: Receiver) -> None:
    _, ids = _job([{"webhook_url": receiver.url("/ordered"), "webhook_output_format": "json"}])
    assert deliver(ids["success"]).state == "waiting"
    assert deliver(ids["running"]).state == "waiting"
    assert deliver(ids["pending"]).state == "delivered"
    # Finishing the pending event woke both; the later one still waits for running.
    assert (_status(ids["running"]), _status(ids["success"])) == ("pending", "pending")
    assert deliver(ids["success"]).state == "waiting"
    assert deliver(ids["running"]).state == "delivered"
    assert deliver(ids["success"]).state == "delivered"
    assert deliver(ids["success"]).state == "not-due"  # a duplicate message changes nothing
    events = [r.payload()["event_type"] for r in receiver.at("/ordered")]
    assert events == ["parse.pending", "parse.running", "parse.success"]


def test_410_ends_the_configuration_for_this_job(db: Settings, receiver: Receiver) -> None:
    receiver.scripts["/gone"] = [410]
    job_id, ids = _job([{"webhook_url": receiver.url("/gone")},
                        {"webhook_url": receiver.url("/still-here")}])
    assert deliver(ids["pending"]).state == "gone"
    assert _status(ids["running"]) == _status(ids["success"]) == "gone"
    with unit_of_work() as session:
        job = session.get(BatchJob, job_id)
        new = record_event(session, job, "cancelled")  # type: ignore[arg-type]
        indexes = [session.get(WebhookDelivery, i).config_index for i in new]  # type: ignore
    assert indexes == [1]
    assert len(receiver.at("/gone")) == 1


def test_retries_wait_their_turn_then_give_up(db: Settings, receiver: Receiver) -> None:
    receiver.scripts["/flaky"] = [500, 502]
    _, ids = _job([{"webhook_url": receiver.url("/flaky"),
                    "webhook_events": ["parse.pending"]}])
    first = deliver(ids["pending"])
    assert first.state == "retry" and 54 <= (first.retry_in or 0) <= 66
    assert deliver(ids["pending"]).state == "not-due"  # early messages do not jump the queue
    with unit_of_work() as session:
        session.get(WebhookDelivery, ids["pending"]).next_attempt_at = utcnow() - timedelta(
            seconds=1)  # type: ignore[union-attr]
    assert deliver(ids["pending"]).state == "failed"
    with unit_of_work() as session:
        delivery = session.get(WebhookDelivery, ids["pending"])
        attempts = session.scalars(sa.select(WebhookAttempt).where(
            WebhookAttempt.delivery_id == ids["pending"]).order_by(WebhookAttempt.id)).all()
        assert (delivery.attempts, delivery.last_error) == (2, "HTTP 502")  # type: ignore
        assert [(a.attempt, a.status_code, a.error) for a in attempts] == [
            (1, 500, "HTTP 500"), (2, 502, "HTTP 502")]
        assert all(a.latency_ms is not None for a in attempts)
    assert len(receiver.at("/flaky")) == 2


def test_send_time_check_refuses_private_targets(tmp_path: Path, receiver: Receiver) -> None:
    with use_settings(_settings(tmp_path, webhook_allow_private_networks=False)):
        _, ids = _job([{"webhook_url": receiver.url("/rebound", host="localhost")}])
        assert deliver(ids["pending"]).state == "retry"
        with unit_of_work() as session:
            error = session.get(WebhookDelivery, ids["pending"]).last_error  # type: ignore
    assert error and error.startswith("refused") and "loopback" in error
    assert receiver.at("/rebound") == []


def test_an_undecryptable_secret_is_never_sent_unsigned(db: Settings,
                                                        receiver: Receiver) -> None:
    job_id, ids = _job([{"webhook_url": receiver.url("/secret"),
                         "webhook_signing_secret": "k"}])
    with unit_of_work() as session:
        session.get(BatchJob, job_id).secrets = "not-a-fernet-token"  # type: ignore[union-attr]
    assert deliver(ids["pending"]).state == "failed"
    assert "decrypted" in (_error := _last_error(ids["pending"])) and "k" not in _error.split()
    assert receiver.at("/secret") == []


def _last_error(delivery_id: str) -> str:
    with unit_of_work() as session:
        return session.get(WebhookDelivery, delivery_id).last_error or ""  # type: ignore
