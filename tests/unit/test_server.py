"""How `helpdesk serve` sizes production serving from the environment."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from helpdesk.notifications.realtime import async_mode
from helpdesk.server import worker_class, worker_count


def test_gevent_is_the_default_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_WORKER", raising=False)
    assert worker_class() == "gevent"
    monkeypatch.setenv("WEB_WORKER", "gthread")
    assert worker_class() == "gthread"


def test_an_unknown_worker_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_WORKER", "eventlet")
    with pytest.raises(ValueError, match="WEB_WORKER"):
        worker_class()


POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/helpdesk"
QUEUE = "redis://127.0.0.1:6379/0"


def settings(database: str, queue: str, cache: str = "RedisCache") -> Flask:
    """An app with only the settings read (binding Socket.IO to a queue would outlive the test)."""
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=database, SOCKETIO_MESSAGE_QUEUE=queue)
    app.config["CACHE_TYPE"] = cache
    return app


def test_several_processes_need_postgresql_the_message_queue_and_the_shared_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    assert worker_count(settings(POSTGRESQL, QUEUE)) == 4
    assert worker_count(settings(POSTGRESQL, "")) == 1
    assert worker_count(settings(POSTGRESQL, QUEUE, cache="SimpleCache")) == 1
    assert worker_count(settings("sqlite:////srv/helpdesk/helpdesk.db", QUEUE)) == 1


def test_sqlite_says_in_the_log_that_it_serves_with_one_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    with caplog.at_level(logging.INFO, logger="helpdesk.server"):
        assert worker_count(settings("sqlite:////srv/helpdesk/helpdesk.db", QUEUE)) == 1
    assert "SQLite: serving with 1 process" in caplog.text


def test_one_process_asked_for_is_one_without_a_word(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    with caplog.at_level(logging.INFO, logger="helpdesk.server"):
        assert worker_count(settings("sqlite:////srv/helpdesk/helpdesk.db", "")) == 1
    assert caplog.text == ""


def test_sockets_use_threads_unless_gevent_patched_the_process() -> None:
    assert async_mode() == "threading"
