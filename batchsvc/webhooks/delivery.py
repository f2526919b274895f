"""Deliver one outbox row: claim it, keep each configuration's events in order, POST, log the
attempt, then finish it or schedule the retry.

States: ``pending`` (due now or at ``next_attempt_at``), ``waiting`` (an earlier event of
the same job and configuration is still pending; it is woken when that one ends),
``delivered`` (a 2xx), ``gone`` (the receiver answered 410: nothing more of this job goes to
that configuration), ``failed`` (attempts exhausted, or it cannot be sent at all).

No database transaction is open while the receiver is being called: a slow receiver holds
one webhook worker slot for at most the timeout, and never a row another task needs.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.messaging import DELIVER_WEBHOOK
from batchsvc.models import BatchJob, WebhookAttempt, WebhookDelivery, utcnow
from batchsvc.secrets import REDACTED, decrypt, restore
from batchsvc.settings import Settings, get_settings
from batchsvc.states import DeliveryStatus
from batchsvc.uow import unit_of, unit_of_work
from batchsvc.webhooks import sender
from batchsvc.webhooks.outbox import event_rank, webhook_targets
from batchsvc.webhooks.signing import custom_headers, render_body, request_headers

log = logging.getLogger("batchsvc.webhooks")
# How late a countdown message may arrive and still find its delivery due (clock skew).
DUE_SLACK = timedelta(seconds=0.5)


@dataclass(frozen=True)
class Result:
    state: str
    retry_in: float | None = None


@dataclass(frozen=True)
class _Prepared:
    delivery_id: str
    url: str
    body: bytes
    headers: dict[str, str]
    attempt: int
    event_type: str


def backoff(attempt: int, base: float) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): base * 2**(n-1) ± 10 %.

    The jitter spreads retries of many deliveries apart, and is narrow enough that each
    delay stays longer than the one before it."""
    return base * 2 ** (attempt - 1) * random.uniform(0.9, 1.1)


def _siblings(job_id: str, config_index: int) -> sa.ColumnElement[bool]:
    return sa.and_(WebhookDelivery.job_id == job_id,
                   WebhookDelivery.config_index == config_index)


def _claim(session: Session, delivery_id: str, settings: Settings) -> _Prepared | Result:
    now = utcnow()
    lease = now + timedelta(seconds=settings.webhook_timeout_seconds + 30)
    found = session.execute(sa.select(WebhookDelivery.job_id, WebhookDelivery.config_index)
                            .where(WebhookDelivery.id == delivery_id)).first()
    if found is None:
        return Result("missing")
    # The configuration's rows are locked before this one is read or parked, in the order
    # _record locks them: an earlier event finishing at this moment either committed first
    # (and is seen finished below) or waits until this row is parked (and wakes it). Reading
    # the siblings without the lock lost wake-ups: a later event parked itself as waiting on
    # an earlier one that had just finished, and nothing woke it.
    session.execute(sa.select(WebhookDelivery.id).where(_siblings(*found))
                    .order_by(WebhookDelivery.id).with_for_update())
    claimed = session.execute(
        sa.update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.PENDING,
               sa.or_(WebhookDelivery.next_attempt_at.is_(None),
                      WebhookDelivery.next_attempt_at <= now + DUE_SLACK))
        .values(next_attempt_at=lease)
        .returning(WebhookDelivery.id)
        .execution_options(synchronize_session=False)
    ).first()
    if claimed is None:
        return Result("not-due")
    delivery = session.get(WebhookDelivery, delivery_id)
    assert delivery is not None
    earlier = session.scalars(sa.select(WebhookDelivery.event_type).where(
        _siblings(delivery.job_id, delivery.config_index),
        WebhookDelivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.WAITING)),
        WebhookDelivery.id != delivery.id)).all()
    if any(event_rank(e) < event_rank(delivery.event_type) for e in earlier):
        delivery.status, delivery.next_attempt_at = DeliveryStatus.WAITING, None
        return Result(DeliveryStatus.WAITING)
    job = session.get(BatchJob, delivery.job_id)
    config = _config(job, delivery.config_index)
    if config is None:
        _finish(session, delivery, DeliveryStatus.FAILED,
                "the job or its webhook configuration no longer exists")
        return Result(DeliveryStatus.FAILED)
    secret = config.get("webhook_signing_secret") or None
    extra = config.get("webhook_headers")
    if secret == REDACTED or extra == REDACTED:
        _finish(session, delivery, DeliveryStatus.FAILED, "the signing secret or headers cannot be "
                "decrypted: was BATCHSVC_SECRET_KEY changed?")
        return Result(DeliveryStatus.FAILED)
    attempt = delivery.attempts + 1
    body = render_body(delivery.payload, config.get("webhook_output_format"))
    headers = request_headers(
        event_id=delivery.payload["event_id"], event_type=delivery.event_type,
        delivery_id=delivery.id, attempt=attempt, timestamp=int(time.time()), body=body,
        secret=secret, extra=custom_headers(extra))
    return _Prepared(delivery.id, delivery.url, body, headers, attempt, delivery.event_type)


def _config(job: BatchJob | None, index: int) -> dict[str, Any] | None:
    if job is None:
        return None
    targets = webhook_targets(restore(job.job_config, decrypt(job.secrets)))
    return targets[index].config if 0 <= index < len(targets) else None


def _lock_siblings(session: Session, delivery: WebhookDelivery) -> None:
    # Lock the configuration's rows before changing any, so a concurrent claim either sees
    # this delivery finished or has already parked its own row as waiting for us to wake.
    session.execute(sa.select(WebhookDelivery.id).where(
        _siblings(delivery.job_id, delivery.config_index))
        .order_by(WebhookDelivery.id).with_for_update())


def _finish(session: Session, delivery: WebhookDelivery, status: str, error: str | None) -> None:
    """End a delivery; wake what waited for it, or (410) end the configuration's others."""
    delivery.status, delivery.next_attempt_at = status, None
    if error is not None:
        delivery.last_error = error
    if status == DeliveryStatus.DELIVERED:
        delivery.delivered_at = utcnow()
    others = sa.and_(_siblings(delivery.job_id, delivery.config_index),
                     WebhookDelivery.id != delivery.id,
                     WebhookDelivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.WAITING)))
    if status == DeliveryStatus.GONE:
        session.execute(sa.update(WebhookDelivery).where(others).values(
            status=DeliveryStatus.GONE, next_attempt_at=None,
            last_error=f"not sent: the receiver answered 410 Gone to {delivery.id}")
            .execution_options(synchronize_session=False))
        return
    woken = session.scalars(
        sa.update(WebhookDelivery).where(others, WebhookDelivery.status == DeliveryStatus.WAITING)
        .values(status=DeliveryStatus.PENDING, next_attempt_at=None).returning(WebhookDelivery.id)
        .execution_options(synchronize_session=False)).all()
    uow = unit_of(session)
    for delivery_id in woken:
        uow.send(DELIVER_WEBHOOK, delivery_id)


def _record(session: Session, prepared: _Prepared, outcome: sender.Outcome,
            settings: Settings) -> Result:
    delivery = session.get(WebhookDelivery, prepared.delivery_id)
    if delivery is None:
        return Result("missing")
    _lock_siblings(session, delivery)
    session.refresh(delivery)
    session.add(WebhookAttempt(
        delivery_id=delivery.id, attempt=prepared.attempt, status_code=outcome.status_code,
        latency_ms=outcome.latency_ms, error=outcome.error, attempted_at=utcnow()))
    delivery.attempts = max(delivery.attempts, prepared.attempt)
    delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
    if delivery.status != DeliveryStatus.PENDING:
        return Result(delivery.status)  # ended meanwhile (a 410 on a sibling)
    if outcome.ok:
        _finish(session, delivery, DeliveryStatus.DELIVERED, None)
        return Result(DeliveryStatus.DELIVERED)
    if outcome.status_code == 410:
        _finish(session, delivery, DeliveryStatus.GONE, None)
        return Result(DeliveryStatus.GONE)
    if prepared.attempt >= settings.webhook_max_attempts:
        _finish(session, delivery, DeliveryStatus.FAILED, None)
        return Result(DeliveryStatus.FAILED)
    delay = backoff(prepared.attempt, settings.webhook_retry_base_seconds)
    delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
    return Result("retry", delay)


def deliver(delivery_id: str) -> Result:
    """One attempt at one delivery, if it is due; safe to call twice for the same id."""
    settings = get_settings()
    with unit_of_work() as session:
        prepared = _claim(session, delivery_id, settings)
    if isinstance(prepared, Result):
        return prepared
    outcome = sender.post(prepared.url, prepared.body, prepared.headers,
                          timeout=settings.webhook_timeout_seconds,
                          allow_private=settings.private_networks_allowed)
    with unit_of_work() as session:
        result = _record(session, prepared, outcome, settings)
    log.info("webhook %s %s attempt %d: %s (%s) in %.0f ms", delivery_id,
             prepared.event_type, prepared.attempt, result.state,
             outcome.status_code or outcome.error, outcome.latency_ms)
    return result
