"""Database engine settings that SQLAlchemy leaves to the application."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

from flask import Flask, g, has_request_context, request
from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from helpdesk.core.security import SAFE_METHODS
from helpdesk.extensions import db


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Let SQLAlchemy own transactions (so savepoints nest), enforce foreign keys, wait on locks."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


BUSY_TIMEOUT_SECONDS = 5.0
HOLDS_GATE = "helpdesk_holds_write_gate"


class WriteGate:
    """Writers of one process take turns here before asking SQLite for its write lock.

    SQLite's busy handler polls with sleeps of up to 100 ms, so with several writers waiting one
    often sleeps on long after the lock came free; a thread waiting on this lock wakes as soon as it
    is released. Other processes still meet at SQLite's lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def enter(self, connection: Connection) -> None:
        """Wait for this process's other writers, once per checkout. A thread that already holds
        the gate on another connection, or waited the busy timeout, goes on without it: then
        SQLite's lock decides, as it did before the gate."""
        if connection.info.get(HOLDS_GATE) or self._owner == threading.get_ident():
            return
        if self._lock.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            self._owner = threading.get_ident()
            connection.info[HOLDS_GATE] = True

    def leave(self, _dbapi_connection: Any, record: Any) -> None:
        """Let the next writer in when the connection goes back to the pool: after its commit
        or rollback has finished."""
        if record.info.pop(HOLDS_GATE, False):
            self._owner = None
            self._lock.release()


def _sqlite_begin(gate: WriteGate, connection: Connection) -> None:
    """Begin explicitly (the driver's implicit transactions would not contain savepoints).

    A request that writes takes the write lock at once (IMMEDIATE) for its unit of work: a
    transaction that read first and wrote later could not wait for another writer and would fail
    with SQLITE_BUSY_SNAPSHOT. What it reads after committing needs no lock.
    """
    writes = connection.get_execution_options().get(WRITES, False) or (
        has_request_context()
        and request.method not in SAFE_METHODS
        and not g.get(UNIT_OF_WORK_DONE, False)
    )
    if writes:
        gate.enter(connection)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


UNIT_OF_WORK_DONE = "helpdesk_unit_of_work_done"  # set on g by events.commit()
WRITES = "helpdesk_writes"  # execution option: this transaction writes, whatever the request


def writer() -> Engine:
    """The engine for a short write outside the request's unit of work (presence, jobs): on
    SQLite it takes the write gate and lock at BEGIN, instead of waiting for the lock inside
    SQLite, where a gevent worker would stall."""
    return db.engine.execution_options(**{WRITES: True})


SQLITE_BUSY_CODES = frozenset({5, 6, 517})  # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT


def is_write_conflict(error: OperationalError) -> bool:
    """Whether SQLite refused a write because another connection wrote first (retry, not a bug)."""
    return getattr(error.orig, "sqlite_errorcode", None) in SQLITE_BUSY_CODES


def configure_sqlite(engine: Engine) -> None:
    """SQLAlchemy's documented recipe for real transactions and savepoints on pysqlite."""
    gate = WriteGate()
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", partial(_sqlite_begin, gate))
    event.listen(engine.pool, "checkin", gate.leave)


def engine_options(app: Flask) -> None:
    """No liveness ping on SQLite: a file cannot drop a connection, and each ping was a statement
    per request."""
    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "sqlite":
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options.pop("pool_pre_ping", None)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def register_database(app: Flask) -> None:
    """Apply the engine settings to every engine of the app."""
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                configure_sqlite(engine)
