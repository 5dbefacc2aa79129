"""Database engine settings that SQLAlchemy leaves to the application."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

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
    """Begin explicitly: the driver's own implicit transactions would not contain savepoints."""
    connection.exec_driver_sql("BEGIN")


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
