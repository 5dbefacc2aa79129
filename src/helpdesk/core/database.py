"""Database engine settings that SQLAlchemy leaves to the application."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session

from helpdesk.core.concurrency import gevent_patched
from helpdesk.core.security import SAFE_METHODS
from helpdesk.extensions import db


def _sqlite_connect(synchronous: str, dbapi_connection: Any, _record: Any) -> None:
    """Let SQLAlchemy own transactions (so savepoints nest), enforce foreign keys, wait on locks,
    and sync the write-ahead log as SQLITE_SYNCHRONOUS says."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.close()


# NORMAL syncs the write-ahead log at checkpoints, not at every commit: no corruption, and only a
# power cut or an operating system crash can lose the last commits. FULL syncs every commit.
SQLITE_SYNCHRONOUS_MODES = frozenset({"NORMAL", "FULL"})


BUSY_TIMEOUT_SECONDS = 5.0
LOCK_POLL_SECONDS = 0.0005
LOCK_POLL_MAX_SECONDS = 0.004
HOLDS_GATE = "helpdesk_holds_write_gate"


class WriteGate:
    """Writers take turns here before asking SQLite for its write lock: the threads (or
    greenlets) of one process on a lock, the processes on a lock file beside the database.

    SQLite's busy handler polls with sleeps of up to 100 ms, so with several writers waiting one
    often sleeps on long after the lock came free, and under gevent that sleep in C stalls every
    connection of the worker; a writer waiting here wakes as soon as the lock is released and
    lets the others run meanwhile.
    """

    def __init__(self, lock_path: Path | None) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._lock_path = lock_path
        self._file: tuple[int, int] | None = None  # (pid, descriptor): a fork opens its own

    def enter(self, connection: Connection) -> None:
        """Wait for the other writers, once per checkout. A thread that already holds the gate on
        another connection, or waited the busy timeout, goes on without it: then SQLite's lock
        decides, as it did before the gate."""
        if connection.info.get(HOLDS_GATE) or self._owner == threading.get_ident():
            return
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        if not self._lock.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            return
        if not self._lock_file(deadline):
            self._lock.release()
            return
        self._owner = threading.get_ident()
        connection.info[HOLDS_GATE] = True

    def leave(self, _dbapi_connection: Any, record: Any) -> None:
        """Let the next writer in when the connection goes back to the pool: after its commit
        or rollback has finished."""
        if record.info.pop(HOLDS_GATE, False):
            self._owner = None
            if self._file is not None:
                fcntl.flock(self._file[1], fcntl.LOCK_UN)
            self._lock.release()

    def _lock_file(self, deadline: float) -> bool:
        """Take the lock file: under gevent by waiting in a thread (wait_for_file_lock), where a
        blocking flock would stall the worker; elsewhere by polling until the deadline."""
        if self._lock_path is None:
            return True
        if self._file is None or self._file[0] != os.getpid():
            self._file = (os.getpid(), os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600))
        descriptor = self._file[1]
        if try_file_lock(descriptor):
            return True
        if gevent_patched():
            return wait_for_file_lock(descriptor, deadline)
        pause = LOCK_POLL_SECONDS
        while time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, LOCK_POLL_MAX_SECONDS)
            if try_file_lock(descriptor):
                return True
        return False


def try_file_lock(descriptor: int) -> bool:
    """Take the lock file if nobody holds it, without waiting."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def wait_for_file_lock(descriptor: int, deadline: float) -> bool:
    """Under gevent, wait for the lock file in a real thread, blocked in the kernel: it wakes the
    moment the other process lets go, where polling slept on (and the process that had just let
    go took the lock again, over and over). A wait abandoned at the deadline lets go of the lock
    if it comes later."""
    import gevent
    from gevent import monkey

    decided = monkey.get_original("threading", "Lock")()  # shared with a real thread
    state = {"granted": False, "abandoned": False}

    def block() -> None:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        with decided:
            if state["abandoned"]:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
            else:
                state["granted"] = True

    waiter = gevent.get_hub().threadpool.spawn(block)
    try:
        waiter.get(timeout=max(deadline - time.monotonic(), 0))
    except gevent.Timeout:
        with decided:
            state["abandoned"] = not state["granted"]
    return state["granted"]


def _sqlite_begin(gate: WriteGate, connection: Connection) -> None:
    """Begin explicitly (the driver's implicit transactions would not contain savepoints).

    A request that writes takes the write lock at once (IMMEDIATE) for its unit of work: a
    transaction that read first and wrote later could not wait for another writer and would fail
    with SQLITE_BUSY_SNAPSHOT. What it reads after committing needs no lock, nor what it reads
    before writing on a connection of its own (reads_before_writing, the READS option).
    """
    options = connection.get_execution_options()
    writes = not options.get(READS, False) and (
        options.get(WRITES, False)
        or (
            has_request_context()
            and request.method not in SAFE_METHODS
            and not g.get(UNIT_OF_WORK_DONE, False)
        )
    )
    if writes:
        gate.enter(connection)
    # straight to the driver: SQLAlchemy's execution path (context, events, result) cost as much
    # as the statement a reading request then runs
    driver = connection.connection.driver_connection
    assert driver is not None  # a connection checked out of the pool holds its driver's
    driver.execute("BEGIN IMMEDIATE" if writes else "BEGIN")


FLUSHED = "helpdesk_flushed"  # session.info: this session wrote through the ORM
UNIT_OF_WORK_DONE = "helpdesk_unit_of_work_done"  # set on g by events.commit()
WRITES = "helpdesk_writes"  # execution option: this transaction writes, whatever the request
READS = "helpdesk_reads"  # execution option: this transaction only reads, whatever the request
BEGUN = "helpdesk_begun"  # session.info: the session has held a connection (SQLite only)


def unit_of_work() -> Connection:
    """The connection of the request's unit of work, its pending ORM changes flushed, for Core
    statements: through the session's own execute, the ORM's handling of a result cost as much as
    the statement."""
    session = db.session()
    session.flush()
    return session.connection()


def writer() -> Engine:
    """The engine for a short write outside the request's unit of work (presence, jobs): on
    SQLite it takes the write gate and lock at BEGIN, instead of waiting for the lock inside
    SQLite, where a gevent worker would stall."""
    return db.engine.execution_options(**{WRITES: True})


@contextmanager
def reads_before_writing(*, alone: bool = False) -> Iterator[Connection]:
    """The connection for what a request reads before it writes (if it writes).

    While the request's unit of work has neither begun nor changed anything, a connection of its
    own: on SQLite in a read transaction, so the reads and the checks on them run outside the
    write lock, which the writers of every process queue for, and the write then proves that
    what it read is unchanged (the task's lock_version); on PostgreSQL only for a reading
    request (GET, HEAD), in autocommit, which spares the BEGIN and ROLLBACK round trips and
    changes nothing at READ COMMITTED, where each statement sees its own snapshot anyway.
    Otherwise the session's own connection, with its changes flushed to it.

    alone: the block's reads need not agree with each other (a single statement, or a page and
    its count), so a connection of its own stays outside any transaction and each statement sees
    the latest commit, as on PostgreSQL: SQLite's BEGIN and ROLLBACK around a task read cost a
    third of the read."""
    apart = _reading_apart(db.session() if db.session.registry.has() else None)
    if apart is None:
        yield unit_of_work()
        return
    with db.engine.connect().execution_options(**apart) as connection:
        if not alone:
            connection.begin()
        yield connection


def _reading_apart(session: Session | None) -> dict[str, Any] | None:
    """The options of reads_before_writing's connection of its own, or None for the session's
    (a request that has not used its session yet has none: making one only to look cost more
    than the read)."""
    if session is not None and holds_changes(session):
        return None
    if db.engine.dialect.name == "sqlite":
        return None if session is not None and session.info.get(BEGUN) else {READS: True}
    if (
        has_request_context()
        and request.method in SAFE_METHODS
        and (session is None or not session.in_transaction())
    ):
        return {"isolation_level": "AUTOCOMMIT"}
    return None


SQLITE_BUSY_CODES = frozenset({5, 6, 517})  # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT


def is_write_conflict(error: OperationalError) -> bool:
    """Whether SQLite refused a write because another connection wrote first (retry, not a bug)."""
    return getattr(error.orig, "sqlite_errorcode", None) in SQLITE_BUSY_CODES


def write_lock_path(engine: Engine) -> Path | None:
    """The lock file that the processes writing one database file share (none in memory)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve().with_name(Path(database).name + "-writelock")


def configure_sqlite(engine: Engine, synchronous: str) -> None:
    """SQLAlchemy's documented recipe for real transactions and savepoints on pysqlite. No
    liveness ping: a file cannot drop a connection."""
    mode = synchronous.strip().upper()
    if mode not in SQLITE_SYNCHRONOUS_MODES:
        raise RuntimeError(f"SQLITE_SYNCHRONOUS must be NORMAL or FULL, not {synchronous!r}")
    gate = WriteGate(write_lock_path(engine))
    event.listen(engine, "connect", partial(_sqlite_connect, mode))
    event.listen(engine, "begin", partial(_sqlite_begin, gate))
    event.listen(engine.pool, "checkin", gate.leave)


def configure_server(engine: Engine, ping_after_idle: int) -> None:
    """A database server can drop a connection (a restart, a firewall's idle timeout): one that
    sat idle is pinged before a request uses it. A connection of a busy pool was just used, and a
    ping per checkout was a round trip per request."""
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


def holds_changes(session: Session) -> bool:
    """Whether the session has objects added, changed or deleted but not yet flushed."""
    return bool(session.new or session.dirty or session.deleted)


def note_begin(session: Session, _transaction: Any, _connection: Any) -> None:
    """Remember that the session holds (or held) a connection: its reads belong on it."""
    session.info[BEGUN] = True


def note_flush(session: Session, _context: Any) -> None:
    """Remember that this session wrote, so its request's end never commits by itself."""
    session.info[FLUSHED] = True


def commit_reads(response: Response) -> Response:
    """On PostgreSQL, end a reading request's transaction with COMMIT rather than the ROLLBACK of
    closing the session: psycopg forgets its prepared statements at every ROLLBACK, so none was
    ever prepared and each statement was planned anew (My Tasks' page: ~5 ms to plan, 2 ms to
    run). Only for a safe method that succeeded and wrote nothing; installed on PostgreSQL only."""
    if (
        response.status_code >= 400
        or request.method not in SAFE_METHODS
        or not db.session.registry.has()
    ):
        return response
    session = db.session()
    if session.in_transaction() and not session.info.get(FLUSHED) and not holds_changes(session):
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
    if dialect == "sqlite":
        event.listen(db.session, "after_begin", note_begin)
    if dialect == "postgresql":
        event.listen(db.session, "after_flush", note_flush)
        app.after_request(commit_reads)
