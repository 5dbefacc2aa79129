"""Who is online and when each user was last seen, from their open sockets and their requests.

Writes are throttled: a socket opening or closing writes at once (rare), requests are only
remembered and written together at most once per PRESENCE_INTERVAL per process, and while
sockets stay open the process re-asserts `online` on the same beat. A user whose process died
without saying goodbye is set offline by the `expire_presence` job once that beat stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import update

from helpdesk.core.database import writer
from helpdesk.core.middleware import loaded_user_id
from helpdesk.core.models import utcnow
from helpdesk.extensions import socketio
from helpdesk.users.models import User

log = logging.getLogger(__name__)

MISSED_BEATS_BEFORE_OFFLINE = 3


class Presence:
    """One process's view: how many sockets each user has here, and who made requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: Counter[int] = Counter()
        self._seen: set[int] = set()
        self._last_write = time.monotonic()
        self._beating = False

    def socket_opened(self, user_id: int) -> None:
        """A user's first socket in this process makes them online."""
        with self._lock:
            self._sockets[user_id] += 1
            first = self._sockets[user_id] == 1
            start_beat = not self._beating
            self._beating = True
        if first:
            _write(online=True, user_ids=[user_id])
        if start_beat:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            socketio.start_background_task(self._beat, app)

    def socket_closed(self, user_id: int) -> None:
        """A user's last socket here closing makes them offline (another process that still
        holds one of theirs says otherwise on its next beat)."""
        with self._lock:
            self._sockets[user_id] -= 1
            last = self._sockets[user_id] <= 0
            if last:
                del self._sockets[user_id]
        if last:
            _write(online=False, user_ids=[user_id])

    def request_seen(self, user_id: int) -> None:
        """Remember a request; write the remembered ones once the interval has passed."""
        with self._lock:
            self._seen.add(user_id)
            due = time.monotonic() - self._last_write >= current_app.config["PRESENCE_INTERVAL"]
        if due:
            self.flush()

    def flush(self) -> None:
        """Write last_seen for everyone seen since the last write, online for open sockets."""
        with self._lock:
            seen, self._seen = self._seen, set()
            connected = list(self._sockets)
            self._last_write = time.monotonic()
        if connected:
            _write(online=True, user_ids=connected)
        requests_only = sorted(seen.difference(connected))
        if requests_only:
            _write(online=None, user_ids=requests_only)

    def _beat(self, app: Flask) -> None:
        """Re-assert this process's connected users on every interval while it has any."""
        while True:
            socketio.sleep(app.config["PRESENCE_INTERVAL"])
            with self._lock:
                if not self._sockets:
                    self._beating = False
                    return
            with app.app_context():
                try:
                    self.flush()
                except Exception:
                    log.exception("presence beat failed; trying again next beat")


def _write(online: bool | None, user_ids: list[int]) -> None:
    """One UPDATE in a transaction of its own, apart from whatever the request is doing."""
    values: dict[str, Any] = {"last_seen": utcnow()}
    if online is not None:
        values["online"] = online
    with writer().begin() as connection:
        connection.execute(update(User).where(User.id.in_(user_ids)).values(**values))


def expire_presence() -> int:
    """Set offline the users whose process stopped beating (it crashed or was killed)."""
    interval = current_app.config["PRESENCE_INTERVAL"]
    cutoff = utcnow() - timedelta(seconds=interval * MISSED_BEATS_BEFORE_OFFLINE)
    with writer().begin() as connection:
        result = connection.execute(
            update(User).where(User.online.is_(True), User.last_seen < cutoff).values(online=False)
        )
    return result.rowcount


def presence() -> Presence:
    """This app's presence tracker."""
    return current_app.extensions["helpdesk_presence"]


def note_request(response: Any) -> Any:
    """After a request that loaded a signed-in user, remember that they were here."""
    user_id = loaded_user_id()
    if user_id is not None:
        presence().request_seen(user_id)
    return response


def register_presence(app: Flask) -> None:
    """Track requests; sockets report through realtime's connect and disconnect handlers."""
    app.extensions["helpdesk_presence"] = Presence()
    app.after_request(note_request)
