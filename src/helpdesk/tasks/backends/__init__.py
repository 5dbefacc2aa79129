"""Task backends by name; the TASK_BACKEND setting picks one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from helpdesk.tasks.backends.base import TaskBackend
from helpdesk.tasks.backends.local import LocalBackend
from helpdesk.tasks.backends.redmine import RedmineBackend

BACKENDS: dict[str, Callable[[Flask], Any]] = {  # each makes the app's TaskBackend
    "local": lambda _app: LocalBackend(),
    "redmine": RedmineBackend.from_app,
}


def init_backend(app: Flask) -> None:
    """Create the configured backend once per app."""
    name = app.config["TASK_BACKEND"]
    if name not in BACKENDS:
        raise RuntimeError(f"TASK_BACKEND must be one of {sorted(BACKENDS)}, not {name!r}")
    app.extensions["task_backend"] = BACKENDS[name](app)


def get_backend() -> TaskBackend:
    """The current app's task backend."""
    return current_app.extensions["task_backend"]
