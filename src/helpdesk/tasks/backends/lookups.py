"""Statuses, priorities and trackers, kept in the application's cache: every task request needs
them, and they change almost never.

Whatever changes them calls invalidate_lookups() once its change is committed (today only the
migrations do, see migrations/env.py). With RedisCache that reaches every process at once; with
SimpleCache, the one-process option, only the process that made it. A change made behind the
helpdesk's back (SQL by hand) shows within CACHE_DEFAULT_TIMEOUT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from helpdesk.extensions import cache, db
from helpdesk.tasks.backends.base import Named, PriorityInfo, StatusInfo
from helpdesk.tasks.models import TaskPriority, TaskStatus, Tracker

CACHE_KEY = "task-lookups"


@dataclass(frozen=True, slots=True)
class Lookups:
    """One consistent read of the three tables, in display order."""

    statuses: tuple[StatusInfo, ...]
    priorities: tuple[PriorityInfo, ...]
    trackers: tuple[Named, ...]
    status_by_id: dict[int, StatusInfo]
    priority_by_id: dict[int, PriorityInfo]
    tracker_by_id: dict[int, Named]


def read_lookups() -> Lookups:
    """Load the three tables from the database (three small statements)."""
    statuses = tuple(
        StatusInfo(*row)
        for row in db.session.execute(
            select(
                TaskStatus.id, TaskStatus.name, TaskStatus.is_closed, TaskStatus.position
            ).order_by(TaskStatus.position, TaskStatus.id)
        )
    )
    priorities = tuple(
        PriorityInfo(*row)
        for row in db.session.execute(
            select(
                TaskPriority.id, TaskPriority.name, TaskPriority.position, TaskPriority.is_default
            ).order_by(TaskPriority.position, TaskPriority.id)
        )
    )
    trackers = tuple(
        Named(*row)
        for row in db.session.execute(
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


def invalidate_lookups() -> None:
    """Forget the cached lookups in every process sharing the cache; call it after committing a
    change to statuses, priorities or trackers."""
    cache.delete(CACHE_KEY)


class LookupCache:
    """The lookups of the current app's database, read through the application's cache."""

    def get(self) -> Lookups:
        """The cached lookups, read from the database and cached when missing."""
        value: Lookups | None = cache.get(CACHE_KEY)
        if value is None:
            value = read_lookups()
            cache.set(CACHE_KEY, value)
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
            invalidate_lookups()
            found = getattr(self.get(), table).get(item_id)
        return found
