"""The signed-in users of this process, kept a moment: loading the user was a third of a request."""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from helpdesk.extensions import db

CHANGED_USERS = "helpdesk_changed_users"  # session.info: ids of users this transaction changed
MAX_ENTRIES = 10_000


class SignedInUsers:
    """Users by Flask-Login id ("id:token"), each kept for `seconds`, detached from any session.

    A commit in this process that changes a user forgets them at once; other processes (the second
    web worker, `helpdesk worker`, the CLI) are seen at most `seconds` late.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._entries: dict[str, tuple[float, Any]] = {}
        self._generation = 0  # bumped by every forget: a load that raced a change is not kept
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Any | None:
        """The kept user for this id, if still fresh."""
        entry = self._entries.get(session_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def generation(self) -> int:
        """Taken before loading a user, handed to `keep`."""
        return self._generation

    def keep(self, session_id: str, user: Any, generation: int) -> None:
        """Keep a detached user, unless a change was committed since its load began."""
        if self.seconds <= 0:
            return
        with self._lock:
            if generation == self._generation:
                if len(self._entries) > MAX_ENTRIES:
                    self._drop_stale()
                self._entries[session_id] = (time.monotonic() + self.seconds, user)

    def forget(self, user_ids: set[int]) -> None:
        """Drop these users' entries (their row changed)."""
        with self._lock:
            self._generation += 1
            for key in [k for k, (_, user) in self._entries.items() if user.id in user_ids]:
                del self._entries[key]

    def _drop_stale(self) -> None:
        """Drop expired entries, so a long-running process keeps only the recently active."""
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._entries.items() if expires < now]:
            del self._entries[key]


def signed_in_users() -> SignedInUsers:
    """This app's cache of signed-in users."""
    return current_app.extensions["helpdesk_signed_in"]


SHARED = "_helpdesk_shared_between_requests"  # on a user that reading requests share


def mark_shared(user: Any) -> None:
    """Mark a user handed to reading requests as is, never to be put in a session."""
    setattr(user, SHARED, True)


def refuse_shared_user(_session: Session, instance: Any) -> None:
    """A user that reading requests share must not join one request's session (two requests
    at once would fight over it): a reading request that changes its user is a bug, said loudly."""
    if getattr(instance, SHARED, False):
        raise RuntimeError(
            "the signed-in user of a reading request is shared; merge it to change it"
        )


def note_changed_users(session: Session, _context: Any) -> None:
    """After a flush, remember which users it changed or deleted, for after the commit."""
    from helpdesk.users.models import User

    changed = {obj.id for obj in (*session.dirty, *session.deleted) if isinstance(obj, User)}
    if changed:
        session.info.setdefault(CHANGED_USERS, set()).update(changed)


def forget_changed_users(session: Session) -> None:
    """Once committed, drop the changed users so the next request loads them afresh."""
    changed = session.info.pop(CHANGED_USERS, None)
    if changed and has_app_context() and "helpdesk_signed_in" in current_app.extensions:
        signed_in_users().forget(changed)


def discard_changed_users(session: Session, _previous: Any) -> None:
    """A rolled-back change changed nothing."""
    session.info.pop(CHANGED_USERS, None)


def register_signed_in_users(app: Flask) -> None:
    """Create the cache and forget users when a commit changes them."""
    app.extensions["helpdesk_signed_in"] = SignedInUsers(app.config["USER_CACHE_SECONDS"])
    if not event.contains(Session, "before_attach", refuse_shared_user):
        event.listen(Session, "before_attach", refuse_shared_user)
    if not event.contains(db.session, "after_flush", note_changed_users):
        event.listen(db.session, "after_flush", note_changed_users)
        event.listen(db.session, "after_commit", forget_changed_users)
        event.listen(db.session, "after_soft_rollback", discard_changed_users)
