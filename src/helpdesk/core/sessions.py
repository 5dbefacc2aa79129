"""Server-side sessions, so logging out or changing a password really ends a session."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import redis
from cachelib.file import FileSystemCache
from flask import Flask, Request, Response
from flask_session._utils import total_seconds
from flask_session.base import ServerSideSession
from flask_session.cachelib import CacheLibSessionInterface
from flask_session.redis import RedisSessionInterface

REDIS_TIMEOUT_SECONDS = 2.0


class KnownCookieFirst:
    """With several session cookies, use the first one the store knows.

    The seed's example client plants a placeholder `session` cookie before logging in, so every
    later request carries it ahead of the real one; the stock interface would read only the first.
    """

    def open_session(self, app: Flask, request: Request) -> ServerSideSession:
        """Open the first known session among the request's session cookies."""
        candidates = request.cookies.getlist(app.config["SESSION_COOKIE_NAME"])
        if len(candidates) > 1:
            for sid in candidates:
                data = self._retrieve_session_data(self._get_store_id(sid))  # type: ignore[attr-defined]
                if data is not None:
                    return self.session_class(data, sid=sid)  # type: ignore[attr-defined]
        return super().open_session(app, request)  # type: ignore[misc]

    def save_session(self, app: Flask, session: ServerSideSession, response: Response) -> None:
        """An unchanged session needs neither storing nor a cookie: answer it at once, without
        the cookie settings and store id the full path works out before finding that out."""
        if session.modified or app.config["SESSION_REFRESH_EACH_REQUEST"]:
            super().save_session(app, session, response)  # type: ignore[misc]
        elif session.accessed:
            if response.headers.getlist("Vary"):
                response.vary.add("Cookie")
            else:
                response.headers["Vary"] = "Cookie"  # what response.vary would set, unparsed


class FileSessions(KnownCookieFirst, CacheLibSessionInterface):
    """Sessions as files in the instance folder (one machine).

    A process keeps the sessions it read with their file's path and identity (inode, size, time
    written) and reads a file again only when that changed, or it is gone or expired: most
    requests then cost one stat instead of hashing the id into a path, an open, a read and an
    unpickling. Sessions holding anything but plain values (a list of messages to flash) are
    always read afresh.
    """

    def __init__(self, **options: Any):
        super().__init__(**options)
        self._lifetime = total_seconds(options["app"].permanent_session_lifetime)
        self._kept: dict[str, tuple[str, tuple[int, int, int], dict[str, Any]]] = {}

    def _retrieve_session_data(self, store_id: str) -> dict[str, Any] | None:
        """The session's data, from what this process kept while its file is unchanged (handed
        out as is: the session built from it is a copy, and its values cannot change in place)."""
        kept = self._kept.get(store_id)
        path = kept[0] if kept is not None else self.cache._get_filename(store_id)
        try:
            found = os.stat(path)
        except FileNotFoundError:
            self._kept.pop(store_id, None)
            return None
        if found.st_mtime + self._lifetime < time.time():
            return None  # expired: the store treats it as gone
        mark = (found.st_ino, found.st_size, found.st_mtime_ns)
        if kept is not None and kept[1] == mark:
            return kept[2]
        data = super()._retrieve_session_data(store_id)
        if data is not None and all(isinstance(v, PLAIN) for v in data.values()):
            if len(self._kept) >= MAX_KEPT_SESSIONS:
                self._kept.clear()
            self._kept[store_id] = (path, mark, data)
        return data


PLAIN = (str, int, float, bool, type(None))  # values a request cannot change in place
MAX_KEPT_SESSIONS = 10_000


class RedisSessions(KnownCookieFirst, RedisSessionInterface):
    """Sessions in Redis (several processes or machines)."""


def register_sessions(app: Flask) -> None:
    """Store sessions in files in the instance folder (default) or in Redis."""
    kind = app.config["SESSION_TYPE"].lower()
    common: dict[str, Any] = {
        "app": app,
        "key_prefix": "session:",
        "use_signer": False,  # ids are 256-bit random values; nothing to sign
        "permanent": app.config["SESSION_PERMANENT"],
        "sid_length": 32,
        "serialization_format": "msgpack",
    }
    if kind == "filesystem":
        folder = Path(app.instance_path) / "sessions"
        client = FileSystemCache(str(folder), threshold=0, mode=0o600)
        app.session_interface = FileSessions(client=client, **common)
    elif kind == "redis":
        server = redis.Redis.from_url(
            app.config["SESSION_REDIS_URL"],
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        app.session_interface = RedisSessions(client=server, **common)
    else:
        raise RuntimeError(f"SESSION_TYPE must be 'filesystem' or 'redis', not {kind!r}")
