"""Production serving through gunicorn, configured from the environment."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)


class HelpdeskServer(BaseApplication):  # type: ignore[misc]
    """Gunicorn running an already-built app."""

    def __init__(self, app: Flask, options: dict[str, Any]):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Hand our options to gunicorn."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """The WSGI app."""
        return self.application


def worker_count(app: Flask) -> int:
    """WEB_CONCURRENCY processes; only one without a Socket.IO message queue, since a socket
    lives in one process and only the queue carries events from the others."""
    wanted = int(os.environ.get("WEB_CONCURRENCY", "2"))
    if wanted > 1 and not app.config["SOCKETIO_MESSAGE_QUEUE"]:
        log.warning("WEB_CONCURRENCY=%d needs SOCKETIO_MESSAGE_QUEUE; serving with 1", wanted)
        return 1
    return max(wanted, 1)


def run_gunicorn(app: Flask, host: str, port: int) -> None:
    """Serve with worker_count() processes of WEB_THREADS threads each (an open socket holds
    a thread, so there are many)."""
    HelpdeskServer(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": worker_count(app),
            "threads": int(os.environ.get("WEB_THREADS", "100")),
            "worker_class": "gthread",
            "accesslog": None,
            "timeout": 60,
            "post_fork": lambda _server, _worker: _dispose_engine(app),
        },
    ).run()


def _dispose_engine(app: Flask) -> None:
    """Drop connections inherited from the master so forked workers never share a socket."""
    from helpdesk.extensions import db

    with app.app_context():
        db.engine.dispose(close=False)
