"""The item task's own Postgres connection: psycopg directly, statements compiled once.

An item on a tiny document costs two statements (claim, finish). Profiling process_item in a
loop (cProfile, 1,900 tiny .txt items) put a third of its CPU in SQLAlchemy's Session and
execution context around those two statements (session begin/commit/close, connection
checkout, compiled-cache lookups, result proxies) rather than in the statements. Here the
statements are still built with SQLAlchemy (itemstore, pipeline), compiled once for psycopg,
and executed on one autocommit connection per process, server-side prepared from the first
use. Every other database access keeps the ORM.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg

from batchsvc.settings import get_settings

_DIALECT = pg_psycopg.dialect()


@dataclass(frozen=True)
class Compiled:
    """A statement's SQL for psycopg and the values of its literal parameters."""

    sql: str
    literals: dict[str, Any]


def compile_statement(statement: Any) -> Compiled:
    """Compile once; the caller supplies every named ``bindparam`` at execution.

    Only plain values cross this boundary (str, int, datetime, bytes, bool; JSON as text),
    so SQLAlchemy's bind processors, which this path skips, have nothing to do."""
    compiled = statement.compile(dialect=_DIALECT)
    return Compiled(compiled.string, dict(compiled.params))


# role -> ((pid, url, synchronous commit), this process's connection, its reused cursor).
# Roles: "item" (the item task) and "heartbeat" (lease renewal, on its own thread).
_current: dict[str, tuple[tuple[int, str, bool], psycopg.Connection[Any], psycopg.Cursor[Any]]] \
    = {}
# A forked child must never finalize its parent's connection: that would close the parent's
# session on the server. Such objects are kept here, unused, for the life of the process.
_inherited: list[psycopg.Connection[Any]] = []


def _connect(url: str, synchronous_commit: bool) -> psycopg.Connection[Any]:
    conninfo = sa.engine.make_url(url).set(drivername="postgresql") \
        .render_as_string(hide_password=False)
    # Asynchronous commit: see itemstore's module note on what a crash can lose.
    options = "" if synchronous_commit else "-c synchronous_commit=off"
    return psycopg.connect(conninfo, autocommit=True, prepare_threshold=0, connect_timeout=10,
                           options=options)


def cursor(role: str = "item") -> psycopg.Cursor[Any]:
    """This process's cursor for ``role``, reconnecting after settings change or a broken
    connection (the statement that found it broken raised; the task retries)."""
    settings = get_settings()
    key = (os.getpid(), settings.sqlalchemy_url, settings.item_synchronous_commit)
    current = _current.pop(role, None)
    if current is not None:
        current_key, conn, cur = current
        if current_key == key and not conn.broken and not conn.closed:
            _current[role] = current
            return cur
        if current_key[0] == key[0]:
            conn.close()
        else:
            _inherited.append(conn)
    conn = _connect(settings.sqlalchemy_url, settings.item_synchronous_commit)
    _current[role] = (key, conn, conn.cursor())
    return _current[role][2]


def execute(statement: Compiled, params: dict[str, Any], role: str = "item"
            ) -> psycopg.Cursor[Any]:
    """Run the statement on this process's cursor for ``role``; read its row or rowcount
    from it. One role's cursor belongs to one thread at a time."""
    cur = cursor(role)
    cur.execute(statement.sql, {**statement.literals, **params}, prepare=True)
    return cur
