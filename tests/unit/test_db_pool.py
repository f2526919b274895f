"""Round trips a request does not pay: the Postgres pool hands out live connections without
a ping, and a read-only request runs without BEGIN and COMMIT."""

from __future__ import annotations

import time

import psycopg
import pytest
import sqlalchemy as sa

from batchsvc.db import get_engine
from batchsvc.models import Project
from batchsvc.settings import Settings
from batchsvc.uow import read_only

BACKEND = sa.text("SELECT pg_backend_pid()")


def test_a_pooled_connection_the_server_ended_is_replaced(pg_settings: Settings) -> None:
    # What a Postgres restart does to every idle connection of every API process and worker.
    engine = get_engine()
    with engine.connect() as conn:
        ended = conn.execute(BACKEND).scalar()
    with psycopg.connect(pg_settings.database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [ended])
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                            [ended]).fetchone():
            time.sleep(0.05)
    with engine.connect() as conn:
        assert conn.execute(BACKEND).scalar() not in (None, ended)
    assert engine.pool.checkedin() == 1  # the ended connection was dropped, not kept


def test_a_live_pooled_connection_is_kept(pg_settings: Settings) -> None:
    engine = get_engine()
    with engine.connect() as conn:
        first = conn.execute(BACKEND).scalar()
    with engine.connect() as conn:
        assert conn.execute(BACKEND).scalar() == first


def test_a_read_only_request_opens_no_transaction(pg_settings: Settings) -> None:
    with read_only() as session:
        session.execute(BACKEND)
        raw = session.connection().connection.dbapi_connection
        assert raw is not None
        assert raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_read_only_session_refuses_to_write(db: Settings) -> None:
    with pytest.raises(RuntimeError, match="read-only"), read_only() as session:
        session.add(Project(name="written-by-a-read"))
