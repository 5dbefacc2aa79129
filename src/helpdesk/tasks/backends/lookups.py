"""Statuses, priorities and trackers kept in memory: every task request needs them, they change
almost never.

A write to one of these tables through the ORM in this process empties every cache at flush and
again at commit (so no reader can keep what it read in between); other processes, and writes
that bypass the ORM (migrations, SQL by hand), are seen after at most TTL_SECONDS.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from itertools import chain, count
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from helpdesk.extensions import db
from helpdesk.tasks.backends.base import Named, PriorityInfo, StatusInfo
from helpdesk.tasks.models import TaskPriority, TaskStatus, Tracker

TTL_SECONDS = 60.0
LOOKUP_MODELS = (TaskStatus, TaskPriority, Tracker)
TOUCHED = "helpdesk_lookups_touched"

_generation = count()
_current_generation = [next(_generation)]


def _bump() -> None:
    """Make every cache in this process reload on its next use."""
    _current_generation[0] = next(_generation)


def _after_flush(session: Session, _context: Any) -> None:
    """A flush that wrote a lookup row invalidates now, and marks the commit to do it again."""
    written = chain(session.new, session.dirty, session.deleted)
    if any(isinstance(item, LOOKUP_MODELS) for item in written):
        session.info[TOUCHED] = True
        _bump()


def _after_transaction_end(session: Session, _transaction: Any) -> None:
    """Invalidate again once the written rows are committed (or rolled back)."""
    if session.info.pop(TOUCHED, False):
        _bump()


def listen_for_writes() -> None:
    """Hook the invalidation into every ORM session, once per process."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_transaction_end", _after_transaction_end)


@dataclass(frozen=True, slots=True)
class Lookups:
    """One consistent read of the three tables, in display order."""

    statuses: tuple[StatusInfo, ...]
    priorities: tuple[PriorityInfo, ...]
    trackers: tuple[Named, ...]
    status_by_id: dict[int, StatusInfo]
    priority_by_id: dict[int, PriorityInfo]
    tracker_by_id: dict[int, Named]


def _read() -> Lookups:
    """Load the three tables (three small statements) in the current session's transaction."""
    reading = db.session.connection()
    statuses = tuple(
        StatusInfo(s.id, s.name, s.is_closed, s.position)
        for s in reading.execute(
            select(
                TaskStatus.id, TaskStatus.name, TaskStatus.is_closed, TaskStatus.position
            ).order_by(TaskStatus.position, TaskStatus.id)
        )
    )
    priorities = tuple(
        PriorityInfo(*row)
        for row in reading.execute(
            select(
                TaskPriority.id,
                TaskPriority.name,
                TaskPriority.position,
                TaskPriority.is_default,
            ).order_by(TaskPriority.position, TaskPriority.id)
        )
    )
    trackers = tuple(
        Named(*row)
        for row in reading.execute(
            select(Tracker.id, Tracker.name).order_by(Tracker.position, Tracker.id)
        )
    )
    return Lookups(
        statuses,
        priorities,
        trackers,
        {s.id: s for s in statuses},
        {p.id: p for p in priorities},
        {t.id: t for t in trackers},
    )


class LookupCache:
    """The lookups of one app's database, reloaded after a write or when older than the TTL."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: Lookups | None = None
        self._generation = -1
        self._loaded_at = 0.0

    def get(self) -> Lookups:
        """The cached lookups, reading them first if they may be out of date."""
        value = self._value
        if (
            value is not None
            and self._generation == _current_generation[0]
            and time.monotonic() - self._loaded_at < TTL_SECONDS
        ):
            return value
        generation = _current_generation[0]
        value = _read()
        with self._lock:
            self._value, self._generation, self._loaded_at = value, generation, time.monotonic()
        return value

    def status(self, status_id: int) -> StatusInfo | None:
        """A status by id; an id not cached yet (added elsewhere) forces one reload."""
        return self._by_id("status_by_id", status_id)  # type: ignore[no-any-return]

    def priority(self, priority_id: int) -> PriorityInfo | None:
        """A priority by id, reloading once for an id not cached yet."""
        return self._by_id("priority_by_id", priority_id)  # type: ignore[no-any-return]

    def tracker(self, tracker_id: int) -> Named | None:
        """A tracker by id, reloading once for an id not cached yet."""
        return self._by_id("tracker_by_id", tracker_id)  # type: ignore[no-any-return]

    def _by_id(self, table: str, item_id: int) -> Any:
        """An item of one of the id maps, reloading once when the id is not cached yet."""
        found = getattr(self.get(), table).get(item_id)
        if found is None:
            self.invalidate()
            found = getattr(self.get(), table).get(item_id)
        return found

    def invalidate(self) -> None:
        """Forget the cached value."""
        with self._lock:
            self._value = None
