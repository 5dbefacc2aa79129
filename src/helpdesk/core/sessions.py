"""Server-side sessions, so logging out or changing a password really ends a session."""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import Any

import redis
from cachelib.file import FileSystemCache
from flask import Flask, Request, Response, current_app, g, request
from flask_session.base import ServerSideSession
from flask_session.cachelib import CacheLibSessionInterface
from flask_session.redis import RedisSessionInterface

from helpdesk.core.errors import APIException, error_response, unavailable_message

# Requests that carry a session cookie yet can go on without their session while its store is
# unreachable: the pages a signed-out visitor uses, which render signed out.
NO_SESSION_NEEDED = frozenset({"static", "users.login", "users.register", "core.health"})
STORE_ERRORS = (redis.RedisError, OSError)

log = logging.getLogger(__name__)


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
        """Open the request's session; while the store is unreachable, an empty one (the request
        is then served signed out, or refused with 503 by `refuse_without_store`)."""
        try:
            return self.open_known_session(app, request)
        except STORE_ERRORS as error:
            log.warning("the session store cannot be reached: %s", error)
            g.session_store_down = True
            return self.session_class(sid=secrets.token_urlsafe(32), permanent=False)

    def open_known_session(self, app: Flask, request: Request) -> ServerSideSession:
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
        if g.get("session_store_down"):
            return  # nothing was read, nothing is kept
        if session.modified or app.config["SESSION_REFRESH_EACH_REQUEST"]:
            try:
                super().save_session(app, session, response)  # type: ignore[misc]
            except STORE_ERRORS as error:
                log.warning("the session store cannot be reached: %s", error)
                answer_unavailable(response)
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


def answer_unavailable(response: Response) -> None:
    """Turn the answer into a 503 when what it did to the session could not be kept (a login
    that was not remembered must not look like a success)."""
    unavailable = error_response(503, unavailable_message())
    response.status_code = 503
    response.set_data(unavailable.get_data())
    response.headers["Content-Type"] = unavailable.headers["Content-Type"]
    response.headers["Retry-After"] = "5"
    response.headers.pop("Location", None)
    response.delete_cookie(current_app.config["SESSION_COOKIE_NAME"])


def refuse_without_store() -> None:
    """While the session store is unreachable, a request that needs its session gets a 503 that
    says so; pages for signed-out visitors still render."""
    if not g.get("session_store_down") or request.endpoint in NO_SESSION_NEEDED:
        return
    if current_app.config["SESSION_COOKIE_NAME"] in request.cookies:
        raise APIException(unavailable_message(), 503)


def expire_sessions() -> int:
    """Remove session files past their lifetime (the file store keeps them otherwise; Redis
    expires its own); returns how many went. A session file is rewritten whenever the session
    changes, so its age is the time since its last change, which is what its expiry counts."""
    app = current_app
    if app.config["SESSION_TYPE"].lower() != "filesystem":
        return 0
    folder = Path(app.instance_path) / "sessions"
    if not folder.is_dir():
        return 0
    oldest = time.time() - app.permanent_session_lifetime.total_seconds()
    removed = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < oldest:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # removed meanwhile (a logout, another process)
    if removed:
        log.info("removed %d expired sessions", removed)
    return removed


def register_sessions(app: Flask) -> None:
    """Store sessions in files in the instance folder (default) or in Redis."""
    kind = app.config["SESSION_TYPE"].lower()
    common: dict[str, Any] = {
        "app": app,
        "key_prefix": app.config["SESSION_KEY_PREFIX"],
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
            socket_timeout=float(app.config["REDIS_TIMEOUT"]),
            socket_connect_timeout=float(app.config["REDIS_TIMEOUT"]),
        )
        app.session_interface = RedisSessions(client=server, **common)
        app.before_request(refuse_without_store)
    else:
        raise RuntimeError(f"SESSION_TYPE must be 'filesystem' or 'redis', not {kind!r}")
