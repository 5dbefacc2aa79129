"""SQLite's one writer per process: work that may write begins IMMEDIATE after taking it, a reading
request begins plainly, the next writer waits on it (not in SQLite's busy handler) until the
holder commits or rolls back, and a thread that would wait for itself is told so."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, text

from helpdesk.core.database import configure_sqlite


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A file database with the app's SQLite settings and one table."""
    engine = create_engine(f"sqlite:///{tmp_path / 'writer.db'}")
    configure_sqlite(engine, "NORMAL")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    yield engine
    engine.dispose()


def begins(engine: Engine, method: str | None) -> list[str]:
    """The BEGIN statements one transaction sends, in a request with this method (None: none)."""
    sent: list[str] = []
    app = Flask(__name__)
    with engine.connect() as connection:
        connection.connection.driver_connection.set_trace_callback(sent.append)  # type: ignore[union-attr]
        if method is None:
            connection.execute(text("SELECT 1"))
        else:
            with app.test_request_context("/", method=method):
                connection.execute(text("SELECT 1"))
        connection.rollback()
        connection.connection.driver_connection.set_trace_callback(None)  # type: ignore[union-attr]
    return [s for s in sent if s.startswith("BEGIN")]


def test_reading_requests_begin_plainly_and_everything_else_immediately(engine: Engine) -> None:
    assert begins(engine, "GET") == ["BEGIN"]
    assert begins(engine, "HEAD") == ["BEGIN"]
    assert begins(engine, "PUT") == ["BEGIN IMMEDIATE"]
    assert begins(engine, "POST") == ["BEGIN IMMEDIATE"]
    assert begins(engine, None) == ["BEGIN IMMEDIATE"]  # jobs, the CLI, background tasks


def test_the_next_writer_waits_until_the_holder_commits(engine: Engine) -> None:
    holder = engine.connect()
    holder.execute(text("INSERT INTO t VALUES (1)"))
    entered = threading.Event()

    def second_writer() -> None:
        with engine.begin() as connection:
            entered.set()
            connection.execute(text("INSERT INTO t VALUES (2)"))

    thread = threading.Thread(target=second_writer)
    thread.start()
    assert not entered.wait(0.3), "the second writer went in while the first held the writer"
    started = time.monotonic()
    holder.commit()
    assert entered.wait(2)
    thread.join()
    assert time.monotonic() - started < 1
    holder.close()
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM t")) == 2


def test_a_rollback_lets_the_next_writer_in(engine: Engine) -> None:
    with engine.connect() as first:
        first.execute(text("INSERT INTO t VALUES (1)"))
        first.rollback()
    with engine.begin() as second:  # would wait the busy timeout if the writer were still held
        second.execute(text("INSERT INTO t VALUES (2)"))


def test_a_second_writing_connection_in_one_thread_is_refused_at_once(engine: Engine) -> None:
    with engine.connect() as first:
        first.execute(text("INSERT INTO t VALUES (1)"))
        started = time.monotonic()
        with (
            pytest.raises(RuntimeError, match="would wait for itself"),
            engine.connect() as second,
        ):
            second.execute(text("SELECT 1"))
        assert time.monotonic() - started < 1
        first.commit()
    with engine.begin() as after:
        after.execute(text("INSERT INTO t VALUES (2)"))


def test_savepoints_nest_inside_the_writers_transaction(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        savepoint = connection.begin_nested()
        connection.execute(text("INSERT INTO t VALUES (2)"))
        savepoint.rollback()
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM t")) == 1
