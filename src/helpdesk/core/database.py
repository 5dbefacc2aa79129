"""Database engine settings that SQLAlchemy leaves to the application."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Flask, Response, has_request_context, request
from sqlalchemy import Table, event
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError

from helpdesk.core.security import SAFE_METHODS
from helpdesk.extensions import db

BUSY_TIMEOUT_SECONDS = 5


def _sqlite_connect(synchronous: str, dbapi_connection: Any, _record: Any) -> None:
    """Let SQLAlchemy own transactions (so savepoints nest), enforce foreign keys, wait on locks,
    and sync the write-ahead log as SQLITE_SYNCHRONOUS says."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.close()


# NORMAL syncs the write-ahead log at checkpoints, not at every commit: no corruption, and only a
# power cut or an operating system crash can lose the last commits. FULL syncs every commit.
SQLITE_SYNCHRONOUS_MODES = frozenset({"NORMAL", "FULL"})


def may_write() -> bool:
    """Whether the current work may write: anything but a request with a safe method (GET, HEAD)."""
    return not (has_request_context() and request.method in SAFE_METHODS)


class WriterBusy(RuntimeError):
    """The writer stayed taken for the busy timeout (not a TimeoutError: servers take that for a
    dropped client connection and answer nothing)."""


class SqliteWriter:
    """The one writer of a SQLite database in this process (SQLite is the one-process option).

    A transaction that may write takes it, then SQLite's write lock with BEGIN IMMEDIATE (a
    transaction that read first and wrote later could fail with SQLITE_BUSY_SNAPSHOT), and gives
    it back at its COMMIT or ROLLBACK. Writers wait here, not in SQLite's busy handler, which
    under gevent would stop every greenlet of the process, the lock's holder included.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # gevent's when gevent has patched threading
        self._holder: Connection | None = None
        self._holder_thread: int | None = None

    def begin(self, connection: Connection) -> None:
        """Begin explicitly (the driver's implicit transactions would not contain savepoints)."""
        driver = connection.connection.driver_connection
        assert driver is not None
        if not may_write():
            driver.execute("BEGIN")
            return
        if self._holder_thread == threading.get_ident():
            raise RuntimeError(
                "this thread already writes to SQLite on another connection and would wait for "
                "itself: write through the one session of the request or job"
            )
        if not self._lock.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise WriterBusy(f"another writer held SQLite for {BUSY_TIMEOUT_SECONDS} s")
        try:
            driver.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        self._holder, self._holder_thread = connection, threading.get_ident()

    def end(self, connection: Connection) -> None:
        """Let the next writer in once the transaction that took the writer has ended."""
        if self._holder is connection:
            self._holder = self._holder_thread = None
            self._lock.release()


def configure_sqlite(engine: Engine, synchronous: str) -> None:
    """SQLAlchemy's documented recipe for real transactions and savepoints on pysqlite, with
    BEGIN IMMEDIATE for work that may write. No liveness ping: a file cannot drop a connection."""
    mode = synchronous.strip().upper()
    if mode not in SQLITE_SYNCHRONOUS_MODES:
        raise RuntimeError(f"SQLITE_SYNCHRONOUS must be NORMAL or FULL, not {synchronous!r}")
    writer = SqliteWriter()
    event.listen(engine, "connect", partial(_sqlite_connect, mode))
    event.listen(engine, "begin", writer.begin)
    event.listen(engine, "commit", writer.end)
    event.listen(engine, "rollback", writer.end)


def configure_server(engine: Engine, ping_after_idle: int) -> None:
    """A database server can drop a connection (a restart, a firewall's idle timeout): a
    connection idle for longer than ping_after_idle seconds (0: any) is pinged before a request
    uses it, and replaced if dead. After a restart every pooled connection is dead, however
    recently used, so the default pings each one."""
    event.listen(engine.pool, "connect", _note_use)
    event.listen(engine.pool, "checkin", _note_use)
    event.listen(engine.pool, "checkout", partial(_ping_if_idle, ping_after_idle, engine.dialect))


LAST_USED = "helpdesk_last_used"  # a pooled connection's record.info: when it was last in use


def _note_use(_dbapi_connection: Any, record: Any) -> None:
    """Remember when a connection was opened or given back."""
    record.info[LAST_USED] = time.monotonic()


def _ping_if_idle(
    idle_seconds: int, dialect: Any, dbapi_connection: Any, record: Any, _proxy: Any
) -> None:
    """Ping a connection idle for longer than idle_seconds; if it is dead the pool opens another."""
    if time.monotonic() - record.info.get(LAST_USED, 0.0) <= idle_seconds:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except dialect.loaded_dbapi.Error as error:
        raise DisconnectionError(f"ping failed: {error}") from error


def commit_reads(response: Response) -> Response:
    """On PostgreSQL, end a reading request's transaction with COMMIT rather than the ROLLBACK of
    closing the session: psycopg forgets its prepared statements at every ROLLBACK, so none would
    ever be prepared and each statement would be planned anew. Only for a safe method that
    succeeded and holds no pending change; what such a request wrote on purpose it commits itself
    (an API token's last use), and a view of a safe method never flushes what it does not mean
    to keep."""
    if (
        response.status_code >= 400
        or request.method not in SAFE_METHODS
        or not db.session.registry.has()
    ):
        return response
    session = db.session()
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()
    return response


def register_database(app: Flask) -> None:
    """Apply the engine settings to every engine of the app."""
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                configure_sqlite(engine, app.config["SQLITE_SYNCHRONOUS"])
            else:
                configure_server(engine, app.config["DATABASE_PING_AFTER_IDLE"])
        dialect = db.engine.dialect.name
    if dialect == "postgresql":
        app.after_request(commit_reads)


# Both supported databases skip a conflicting row with INSERT … ON CONFLICT DO NOTHING.
INSERT_IGNORING: dict[str, Callable[[Table], PgInsert | SqliteInsert]] = {
    "postgresql": pg_insert,
    "sqlite": sqlite_insert,
}


def insert_ignoring(table: Table, dialect: str, *unique: str) -> PgInsert | SqliteInsert:
    """An INSERT into table that skips the rows whose unique columns are already taken."""
    return INSERT_IGNORING[dialect](table).on_conflict_do_nothing(index_elements=list(unique))
