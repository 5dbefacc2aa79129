"""How `helpdesk serve` sizes production serving from the environment."""

from __future__ import annotations

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


def test_several_processes_need_the_message_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the setting is read (binding Socket.IO to a queue here would outlive the test)."""
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    app = Flask(__name__)
    app.config["SOCKETIO_MESSAGE_QUEUE"] = ""
    assert worker_count(app) == 1
    app.config["SOCKETIO_MESSAGE_QUEUE"] = "redis://127.0.0.1:6379/0"
    assert worker_count(app) == 4


def test_sockets_use_threads_unless_gevent_patched_the_process() -> None:
    assert async_mode() == "threading"
