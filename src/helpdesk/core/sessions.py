"""Server-side sessions, so logging out or changing a password really ends a session."""

from __future__ import annotations

from pathlib import Path

import redis
from cachelib.file import FileSystemCache
from flask import Flask

from helpdesk.extensions import server_session

REDIS_TIMEOUT_SECONDS = 2.0


def register_sessions(app: Flask) -> None:
    """Store sessions in files in the instance folder (default) or in Redis."""
    kind = app.config["SESSION_TYPE"].lower()
    if kind == "filesystem":
        folder = Path(app.instance_path) / "sessions"
        app.config["SESSION_TYPE"] = "cachelib"
        app.config["SESSION_CACHELIB"] = FileSystemCache(str(folder), threshold=0, mode=0o600)
    elif kind == "redis":
        app.config["SESSION_REDIS"] = redis.Redis.from_url(
            app.config["SESSION_REDIS_URL"],
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
    else:
        raise RuntimeError(f"SESSION_TYPE must be 'filesystem' or 'redis', not {kind!r}")
    server_session.init_app(app)
