"""Who is online and when each user was last seen, from their open sockets and their requests.

Requests and sockets only tell this process's tracker; the tracker writes in a background task,
in a transaction of its own and never inside a request (a request may hold the database's write
lock until it ends). A socket opening or closing is written at once (rare), requests at most once
per PRESENCE_INTERVAL per process, and while sockets stay open the process re-asserts `online`
on the same beat. A user whose process died without saying goodbye is set offline by the
`expire_presence` job once that beat stops. `close_presence(app)` stops the beat and waits for
the writes still running, so none outlives its app (and its database).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import update

from helpdesk.core.middleware import loaded_user_id
from helpdesk.core.models import utcnow
from helpdesk.extensions import db, socketio
from helpdesk.users.models import User

log = logging.getLogger(__name__)

MISSED_BEATS_BEFORE_OFFLINE = 3


class Presence:
    """One process's view: how many sockets each user has here, and who made requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # one write at a time, so the last news is written last
        self._sockets: Counter[int] = Counter()
        self._changed: dict[int, bool] = {}  # user -> online, since the last write
        self._seen: set[int] = set()
        self._last_write = time.monotonic()
        self._beating = False
        self._tasks: set[Any] = set()  # background tasks started and not yet ended
        self._closed = threading.Event()  # set by close(): start nothing more, end the beat

    def socket_opened(self, user_id: int) -> None:
        """A user's first socket in this process makes them online."""
        with self._lock:
            self._sockets[user_id] += 1
            first = self._sockets[user_id] == 1
            if first:
                self._changed[user_id] = True
            start_beat = not self._beating
            self._beating = True
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if first:
            self._start(self.write, app)
        if start_beat:
            self._start(self._beat, app)

    def socket_closed(self, user_id: int) -> None:
        """A user's last socket here closing makes them offline (another process that still
        holds one of theirs says otherwise on its next beat)."""
        with self._lock:
            self._sockets[user_id] -= 1
            last = self._sockets[user_id] <= 0
            if last:
                del self._sockets[user_id]
                self._changed[user_id] = False
        if last:
            self._start(self.write, current_app._get_current_object())  # type: ignore[attr-defined]

    def request_seen(self, user_id: int) -> None:
        """Remember a request; once the interval has passed, have the remembered ones written."""
        with self._lock:
            self._seen.add(user_id)
            due = time.monotonic() - self._last_write >= current_app.config["PRESENCE_INTERVAL"]
            if due:
                self._last_write = time.monotonic()
        if due:
            self._start(self.write, current_app._get_current_object())  # type: ignore[attr-defined]

    def _start(self, work: Callable[[Flask], None], app: Flask) -> None:
        """Run work(app) in a background task that close() can wait for; none once closed."""
        if self._closed.is_set():
            return
        task: Any = None

        def run() -> None:
            try:
                work(app)
            finally:
                with self._lock:  # taken after the task was added: the starter holds it till then
                    self._tasks.discard(task)

        with self._lock:
            task = socketio.start_background_task(run)
            self._tasks.add(task)

    def close(self, timeout: float = 10.0) -> None:
        """Start no more writes, end the beat, and wait up to timeout for the tasks running."""
        self._closed.set()
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                running = list(self._tasks)
            if not running:
                return
            for task in running:
                task.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                return

    def write(self, app: Flask) -> None:
        """Write what changed in a background task's own app context; a failure is logged and
        the next write tries again."""
        with app.app_context():
            try:
                self.flush()
            except Exception:
                log.exception("writing presence failed; the next write tries again")
            finally:
                db.session.remove()

    def flush(self) -> None:
        """Write last_seen for everyone seen since the last write, online for open sockets and
        offline for closed ones, in one transaction of the current app context's session."""
        with self._writing:
            with self._lock:
                seen, self._seen = self._seen, set()
                changed, self._changed = self._changed, {}
                connected = set(self._sockets)
                self._last_write = time.monotonic()
            online = sorted(connected | {user for user, is_on in changed.items() if is_on})
            offline = sorted(user for user, is_on in changed.items() if not is_on)
            requests_only = sorted(seen - connected - set(changed))
            try:
                for ids, is_on in ((online, True), (offline, False), (requests_only, None)):
                    if ids:
                        _write(ids, is_on)
                db.session.commit()
            except Exception:
                db.session.rollback()
                with self._lock:  # not written: keep it for the next write, unless newer news
                    self._seen |= seen
                    self._changed = {**changed, **self._changed}
                raise

    def _beat(self, app: Flask) -> None:
        """Re-assert this process's connected users on every interval while it has any."""
        while not self._closed.wait(app.config["PRESENCE_INTERVAL"]):
            with self._lock:
                if not self._sockets:
                    self._beating = False
                    return
            self.write(app)


def _write(user_ids: list[int], online: bool | None) -> None:
    """Stamp last_seen, and online unless None, on the given users."""
    values: dict[str, Any] = {"last_seen": utcnow()}
    if online is not None:
        values["online"] = online
    db.session.execute(update(User).where(User.id.in_(user_ids)).values(**values))


def expire_presence() -> int:
    """Set offline the users whose process stopped beating (it crashed or was killed)."""
    interval = current_app.config["PRESENCE_INTERVAL"]
    cutoff = utcnow() - timedelta(seconds=interval * MISSED_BEATS_BEFORE_OFFLINE)
    result = db.session.execute(
        update(User).where(User.online.is_(True), User.last_seen < cutoff).values(online=False)
    )
    db.session.commit()
    return result.rowcount  # type: ignore[attr-defined]


def presence() -> Presence:
    """This app's presence tracker."""
    return current_app.extensions["helpdesk_presence"]


def close_presence(app: Flask, timeout: float = 10.0) -> None:
    """At the app's end: wait for its presence writes, so none outlives the app's database."""
    app.extensions["helpdesk_presence"].close(timeout)


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
