"""Statuses, priorities and trackers: every task request needs them, and they change almost never.

Each process keeps the decoded lookups, stamped with the version the application's cache names
(a request costs one read of that short version, not the decoding of every lookup). Whatever
changes them calls invalidate_lookups() once the change is committed (today only the migrations
do, see migrations/env.py), which names a new version: with RedisCache every process reloads on
its next request; with SimpleCache, the one-process option, only the process that changed them.
A change made behind the helpdesk's back (SQL by hand) shows within CACHE_DEFAULT_TIMEOUT.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from flask import current_app, g
from sqlalchemy import select

from helpdesk.core.metrics import note_cache
from helpdesk.extensions import cache, db
from helpdesk.tasks.backends.base import Named, PriorityInfo, StatusInfo
from helpdesk.tasks.models import TaskPriority, TaskStatus, Tracker

VERSION_KEY = "task-lookups-version"  # in the application's cache, shared by its processes
REQUEST_KEY = "task_lookups"  # in flask.g: one consistent read per request


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
    """Make every process sharing the cache reload the lookups; call it after committing a change
    to statuses, priorities or trackers."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=0)
    g.pop(REQUEST_KEY, None)


def current_version() -> str | None:
    """The version of the lookups the cache names, naming a first one if it names none."""
    version: str | None = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=0)  # another process may be first
        version = cache.get(VERSION_KEY)
    return version


class LookupCache:
    """The lookups of the current app's database, kept by this process while the cache names
    the version they were read at, and for CACHE_DEFAULT_TIMEOUT at most."""

    def __init__(self) -> None:
        self._held: tuple[str | None, float, Lookups] | None = None  # version, until, lookups

    def get(self) -> Lookups:
        """The request's lookups: those this process holds if still current, else read anew."""
        lookups: Lookups | None = g.get(REQUEST_KEY)
        if lookups is None:
            lookups = self._current()
            setattr(g, REQUEST_KEY, lookups)
        return lookups

    def _current(self) -> Lookups:
        """The lookups held if the cache still names their version, else a new read (the version
        is read first, so a change committed meanwhile is read again next time)."""
        version = current_version()
        held = self._held
        if held is not None and held[0] == version and time.monotonic() < held[1]:
            note_cache("lookups", hit=True)
            return held[2]
        note_cache("lookups", hit=False)
        lookups = read_lookups()
        until = time.monotonic() + current_app.config["CACHE_DEFAULT_TIMEOUT"]
        self._held = (version, until, lookups)
        return lookups

    def status(self, status_id: int) -> StatusInfo | None:
        """A status by id; an id not cached yet (added elsewhere) forces one reload."""
        return self._by_id("status_by_id", status_id)

    def priority(self, priority_id: int) -> PriorityInfo | None:
        """A priority by id, reloading once for an id not cached yet."""
        return self._by_id("priority_by_id", priority_id)

    def tracker(self, tracker_id: int) -> Named | None:
        """A tracker by id, reloading once for an id not cached yet."""
        return self._by_id("tracker_by_id", tracker_id)

    def _by_id(self, table: str, item_id: int) -> Any:
        """An item of one of the id maps; an id this process does not hold makes it read the
        lookups once more (only itself: a bad id from a client must not reload every process)."""
        found = getattr(self.get(), table).get(item_id)
        if found is None:
            self._held = None
            g.pop(REQUEST_KEY, None)
            found = getattr(self.get(), table).get(item_id)
        return found
