"""Engine and sessions, one engine per process (created lazily, so forked workers get their own)."""

from __future__ import annotations

import os
import select
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from batchsvc.settings import Settings, get_settings

_engine: sa.Engine | None = None
_engine_pid: int | None = None
_sessionmaker: sessionmaker[Session] | None = None


def make_engine(settings: Settings) -> sa.Engine:
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        settings.data_path.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets the API read while a worker writes; the API and workers are processes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        # pysqlite opens a transaction only before a write, so reads never hold the lock
        # and a writer waits (busy_timeout) instead of failing.

        @sa.event.listens_for(engine, "before_execute")
        def _lock_for_update(conn, clauseelement, *_args):  # type: ignore[no-untyped-def]
            # SQLite ignores FOR UPDATE, and pysqlite's transaction begins at the first write:
            # a row read "locked" could change before that write (a cancel committed between
            # a dispatcher's read of the job and its INSERT of the page, leaving pending items
            # in a cancelled job). Taking the write lock before the read makes what follows it
            # current until the commit, as FOR UPDATE does on PostgreSQL.
            if getattr(clauseelement, "_for_update_arg", None) is None:
                return
            dbapi_conn = conn.connection.dbapi_connection
            if not dbapi_conn.in_transaction:
                dbapi_conn.execute("BEGIN IMMEDIATE")

        return engine
    engine = sa.create_engine(
        url,
        pool_size=5,
        max_overflow=10,
        pool_recycle=1800,
        connect_args={"connect_timeout": 10, "prepare_threshold": 5},
    )
    sa.event.listen(engine, "checkout", _refuse_a_closed_connection)
    return engine


def _refuse_a_closed_connection(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Replace a pooled connection the server has closed, without a round trip.

    An idle connection receives nothing, unless the server ended it: a restart or
    ``pg_terminate_backend`` sends a FATAL message and closes the socket, which makes it
    readable. A zero-timeout poll sees that; the pool's pre-ping (``SELECT 1`` on every
    checkout) cost a round trip on every request and every control task, 20 % of a read's
    database wait (docs/performance.md); the item path has its own connection (itemdb)."""
    try:
        readable = select.poll()
        readable.register(dbapi_conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        ended = bool(readable.poll(0))
    except (OSError, ValueError, psycopg.OperationalError):
        ended = True  # fileno() of a connection psycopg knows is closed
    if ended:
        # The pool discards this connection and checks out (or opens) another.
        raise sa_exc.DisconnectionError("the server closed this pooled connection")


def get_engine() -> sa.Engine:
    global _engine, _engine_pid, _sessionmaker
    if _engine is None or _engine_pid != os.getpid():
        _engine = make_engine(get_settings())
        _engine_pid = os.getpid()
        _sessionmaker = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def reset_engine() -> None:
    """Forget the engine (after settings change, or in a forked child)."""
    global _engine, _sessionmaker
    if _engine is not None and _engine_pid == os.getpid():
        _engine.dispose()
    _engine = None
    _sessionmaker = None


def new_session() -> Session:
    get_engine()
    assert _sessionmaker is not None
    return _sessionmaker()


def insert_ignoring_conflict(session: Session, model: Any, values: dict[str, Any],
                             unique: list[str]) -> bool:
    """INSERT a row unless one with the same ``unique`` columns exists; True if inserted.

    For rows that several processes may create at the same moment (start-up chores): a
    SELECT-then-INSERT lets both insert and one die on the unique constraint."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    result = session.execute(dialect.insert(model).values(**values)
                             .on_conflict_do_nothing(index_elements=unique))
    return bool(getattr(result, "rowcount", 0))


# Errors that mean "the database is unreachable right now", not "bad data": refused or
# dropped connections (also at pool checkout or auth), pool timeouts, locks.
TRANSIENT_DB_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
                       sa_exc.DisconnectionError)


def is_transient_db_error(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_DB_ERRORS):
        return True
    # The item path's own connection (services/itemdb) raises psycopg's errors unwrapped.
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)
