"""What editing a task and its watchers passes across the backend interface (see TaskBackend)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from helpdesk.tasks.backends.base import JournalDetailInfo, TaskInfo

EDITABLE_FIELDS = (
    "subject",
    "description",
    "assigned_to_id",
    "priority_id",
    "tracker_id",
    "start_date",
    "due_date",
    "estimated_hours",
    "done_ratio",
)  # and custom fields; a journal names each as Redmine does (a custom field as cf_<id>)
WATCHER = "watcher"  # a journal detail of a watcher added (new value) or removed (old value)
USER_FIELDS = frozenset(
    {"assigned_to_id", "author_id", WATCHER}
)  # journal details whose values are user ids


@dataclass(frozen=True, slots=True)
class TaskChanges:
    """The fields an edit sets: only those in `fields` change (a value of None clears an
    optional field); custom_fields by field id; notes, if any, are journaled with them."""

    fields: dict[str, Any] = field(default_factory=dict)
    custom_fields: dict[int, str] = field(default_factory=dict)
    notes: str = ""


@dataclass(frozen=True, slots=True)
class TaskUpdate:
    """The outcome of an edit: the task before and after, and the journal of what changed
    (None when nothing did and no notes were given)."""

    before: TaskInfo
    task: TaskInfo
    journal_id: int | None
    details: tuple[JournalDetailInfo, ...]


@dataclass(frozen=True, slots=True)
class WatchChange:
    """The outcome of adding or removing a watcher: the task after it, whether anything changed,
    and the history entry that records it (None: nothing changed, or a store that keeps no
    history of watchers, as Redmine)."""

    task: TaskInfo
    changed: bool
    journal_id: int | None = None


@dataclass(frozen=True, slots=True)
class TaskRights:
    """What the actor may do to a visible task besides reading and commenting on it."""

    may_edit: bool
    may_manage_watchers: bool  # add or remove others; anyone who sees a task may watch it


def detail_value(value: Any) -> str | None:
    """A field's value as a journal writes it (Redmine's strings; None for no value)."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
