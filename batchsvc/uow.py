"""One unit of work: a transaction and the messages it will send once it has committed.

Services ask the unit of work of their session to send (``unit_of(session).send(...)``);
nothing is published unless and until the transaction commits, so no task ever races the
rows it reads, and a rollback sends nothing. Every message has a durable twin in the rows it
is about — a pending job, a published item, an outbox delivery — so a message that cannot be
published after the commit (the broker is down) is relayed later by the sweeper.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from batchsvc.db import new_session

log = logging.getLogger("batchsvc.uow")
_KEY = "unit_of_work"


@dataclass
class UnitOfWork:
    session: Session
    _outgoing: list[Callable[[], Any]] = field(default_factory=list)

    def send(self, name: str, *args: Any, **options: Any) -> None:
        """Send task ``name`` after the commit."""
        from batchsvc.messaging import send

        self._outgoing.append(lambda: send(name, *args, **options))

    def publish(self, canvas: Any) -> None:
        """Apply a Celery canvas (a chord of a page, a chain) after the commit."""
        self._outgoing.append(canvas.apply_async)

    def flush(self) -> None:
        """Publish what was asked, in order; on a broker failure stop (the rows stay the
        truth and the sweeper relays them)."""
        outgoing, self._outgoing = self._outgoing, []
        for message in outgoing:
            try:
                message()
            except Exception as exc:  # noqa: BLE001 - any transport's error
                log.warning("broker unavailable, %d message(s) left to the sweeper: %s",
                            len(outgoing), type(exc).__name__)
                return


def unit_of(session: Session) -> UnitOfWork:
    """The unit of work that owns ``session``."""
    return session.info[_KEY]


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A transaction: commit on success, roll back on any error; after a commit, its
    messages."""
    session = new_session()
    uow = UnitOfWork(session)
    session.info[_KEY] = uow
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    uow.flush()


@contextmanager
def read_only() -> Iterator[Session]:
    """A session for a request that only reads. On PostgreSQL each statement runs on its own
    (autocommit): no ``BEGIN`` and no ``COMMIT`` round trip, 22 % of a read's database wait
    when every read was a transaction (docs/performance.md). The statements of one read see
    the database at slightly different moments; the views built here tolerate that (an item's
    status only moves forward, and counts.live_counts reads the prefix before its window).
    Nothing may be written: a change left in the session is a bug, raised as one."""
    session = new_session()
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    try:
        yield session
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("a read-only unit of work was asked to write")
    finally:
        session.close()
