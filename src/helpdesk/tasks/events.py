"""What the task service announces after commit, for notifications to consume."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from helpdesk.tasks.backends.base import JournalInfo, StatusInfo, TaskFacts, TaskInfo


@dataclass(frozen=True, slots=True)
class TaskStatusChanged:
    """A task moved to another status (from the API, the board, the task page or the feed)."""

    task: TaskFacts
    old_status: StatusInfo
    new_status: StatusInfo
    actor_id: int
    comment: str
    notify_users: bool
    journal_id: int | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class TaskCreated:
    """A new task (its assignee may want to know)."""

    task: TaskInfo
    actor_id: int


@dataclass(frozen=True, slots=True)
class TaskCommented:
    """Notes were added to a task (here or, seen by the feed, elsewhere)."""

    task: TaskFacts
    journal: JournalInfo
    actor_id: int


@dataclass(frozen=True, slots=True)
class TaskReassigned:
    """A task got another assignee in its history (seen by the feed, made elsewhere)."""

    task: TaskFacts
    journal_id: int
    assignee_id: int
    actor_id: int


def journal_key(journal_id: int) -> str:
    """What makes a change recorded in a journal unique, wherever it is announced from; another
    backend's journals have keys of their own (redmine-journal:<id>), so switching backends
    never takes one backend's journal for an announced one of the other."""
    backend = current_app.config["TASK_BACKEND"]
    prefix = "" if backend == "local" else f"{backend}-"
    return f"{prefix}journal:{journal_id}"


@dataclass(frozen=True, slots=True)
class TaskWatchersChanged:
    """Someone added a watcher to a task or removed one (user_id: the watcher); the one added
    by someone else may want to know, and the task's open pages show the new watchers."""

    task: TaskFacts
    actor_id: int
    user_id: int
    watching: bool
    journal_id: int | None  # None: a store that keeps no history of watchers (Redmine)
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class TaskEdited:
    """A task's fields were edited here (details: each change old -> new); its people, the
    new assignee and those newly mentioned in its description or notes may want to know."""

    task: TaskFacts
    journal: JournalInfo
    old_assignee_id: int | None
    actor_id: int
    mentions: tuple[str, ...] = ()  # usernames newly mentioned, lower-cased
    custom_field_names: tuple[tuple[int, str], ...] = ()  # to name a changed custom field


# Every change that may notify someone: what notification keys and e-mails are made of
TaskEvent = (
    TaskStatusChanged
    | TaskCommented
    | TaskCreated
    | TaskReassigned
    | TaskEdited
    | TaskWatchersChanged
)
