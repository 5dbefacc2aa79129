"""Production serving through gunicorn, configured from the environment."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


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


def run_gunicorn(app: Flask, host: str, port: int) -> None:
    """Serve with WEB_CONCURRENCY processes of WEB_THREADS threads each."""
    HelpdeskServer(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": int(os.environ.get("WEB_CONCURRENCY", "2")),
            "threads": int(os.environ.get("WEB_THREADS", "4")),
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
