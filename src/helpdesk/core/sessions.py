"""Server-side sessions, so logging out or changing a password really ends a session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
from cachelib.file import FileSystemCache
from flask import Flask, Request, Response
from flask_session.base import ServerSideSession
from flask_session.cachelib import CacheLibSessionInterface
from flask_session.redis import RedisSessionInterface

REDIS_TIMEOUT_SECONDS = 2.0


class KnownCookieFirst:
    """With several session cookies, use the first one the store knows.

    The seed's example client plants a placeholder `session` cookie before logging in, so every
    later request carries it ahead of the real one; the stock interface would read only the first.
    """

    key_prefix: str
    session_class: type[ServerSideSession]

    def stored(self, store_id: str) -> dict[str, Any] | None:
        """The data the store holds under this id, or None (each store reads its own client)."""
        raise NotImplementedError

    def open_session(self, app: Flask, request: Request) -> ServerSideSession:
        """Open the first known session among the request's session cookies."""
        candidates = request.cookies.getlist(app.config["SESSION_COOKIE_NAME"])
        if len(candidates) > 1:
            for sid in candidates:
                data = self.stored(self.key_prefix + sid)
                if data is not None:
                    return self.session_class(data, sid=sid)
        return super().open_session(app, request)  # type: ignore[misc]

    def save_session(self, app: Flask, session: ServerSideSession, response: Response) -> None:
        """An unchanged session needs neither storing nor a cookie: answer it at once, without
        the cookie settings and store id the full path works out before finding that out."""
        if session.modified or app.config["SESSION_REFRESH_EACH_REQUEST"]:
            super().save_session(app, session, response)  # type: ignore[misc]
        elif session.accessed:
            response.vary.add("Cookie")


class FileSessions(KnownCookieFirst, CacheLibSessionInterface):
    """Sessions as files in the instance folder (one machine)."""

    def stored(self, store_id: str) -> dict[str, Any] | None:
        """The session's data, as cachelib keeps it (a dict, pickled)."""
        data = self.cache.get(store_id)
        return data if isinstance(data, dict) else None


class RedisSessions(KnownCookieFirst, RedisSessionInterface):
    """Sessions in Redis (several processes or machines)."""

    def stored(self, store_id: str) -> dict[str, Any] | None:
        """The session's data, decoded as it was encoded (serialization_format)."""
        encoded = self.client.get(store_id)
        return self.serializer.decode(encoded) if encoded else None


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
