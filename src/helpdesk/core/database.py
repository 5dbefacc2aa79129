"""Database engine settings that SQLAlchemy leaves to the application."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, has_request_context, request
from sqlalchemy import event
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


def _sqlite_begin(connection: Connection) -> None:
    """Begin explicitly (the driver's implicit transactions would not contain savepoints).

    A request that writes takes the write lock at once (IMMEDIATE) for its unit of work: a
    transaction that read first and wrote later could not wait for another writer and would fail
    with SQLITE_BUSY_SNAPSHOT. What it reads after committing needs no lock.
    """
    writes = (
        has_request_context()
        and request.method not in SAFE_METHODS
        and not g.get(UNIT_OF_WORK_DONE, False)
    )
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


UNIT_OF_WORK_DONE = "helpdesk_unit_of_work_done"  # set on g by events.commit()

SQLITE_BUSY_CODES = frozenset({5, 6, 517})  # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT


def is_write_conflict(error: OperationalError) -> bool:
    """Whether SQLite refused a write because another connection wrote first (retry, not a bug)."""
    return getattr(error.orig, "sqlite_errorcode", None) in SQLITE_BUSY_CODES


def configure_sqlite(engine: Engine) -> None:
    """SQLAlchemy's documented recipe for real transactions and savepoints on pysqlite."""
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)


def register_database(app: Flask) -> None:
    """Apply the engine settings to every engine of the app."""
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                configure_sqlite(engine)
