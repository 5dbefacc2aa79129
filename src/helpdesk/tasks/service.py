"""Task operations: every page, API call, board drag and job goes through these functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from werkzeug.local import LocalProxy

from helpdesk.core.events import commit, publish, publish_once, rollback
from helpdesk.core.models import utcnow
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import (
    Actor,
    JournalInfo,
    Named,
    NewTask,
    StatusChange,
    TaskError,
    TaskFacts,
    TaskInfo,
    TaskQuery,
    TaskSummary,
)
from helpdesk.tasks.backends.edits import TaskChanges, TaskUpdate
from helpdesk.tasks.events import (
    TaskCommented,
    TaskCreated,
    TaskEdited,
    TaskStatusChanged,
    TaskWatchersChanged,
    journal_key,
)
from helpdesk.tasks.mentions import mentioned_usernames, newly_mentioned
from helpdesk.users.snapshot import redmine_api_key

ACTIVE_TASKS_SHOWN = 100  # User.get_active_tasks: a page's worth, never the whole backlog


def actor_for(user: Any) -> Actor:
    """The backend's view of a helpdesk user (the signed-in user's proxy is looked through once,
    not once per attribute)."""
    if isinstance(user, LocalProxy):
        user = user._get_current_object()
    return Actor(
        user_id=user.id,
        is_admin=bool(user.is_admin),
        login=user.redmine_username or user.username,
        redmine_api_key=redmine_api_key(user),
    )


def active_tasks(user: Any) -> list[TaskSummary]:
    """The user's open tasks assigned to them, most urgent first, 100 at most."""
    query = TaskQuery(assigned_to_id=user.id, status="open", per_page=ACTIVE_TASKS_SHOWN)
    return get_backend().list_tasks(actor_for(user), query).items


def change_status(
    user: Any, task_id: int, status_id: int, comment: str | None = None, notify_users: bool = True
) -> StatusChange:
    """Move a task to a new status; announces TaskStatusChanged after the caller commits."""
    actor = actor_for(user)
    result = get_backend().change_status(actor, task_id, status_id, comment or None)
    event = None
    if result.changed:
        event = TaskStatusChanged(
            task=TaskFacts.of(result.task),
            old_status=result.old_status,
            new_status=result.new_status,
            actor_id=actor.user_id,
            comment=comment or "",
            notify_users=notify_users,
            journal_id=result.journal_id,
            occurred_at=utcnow(),
        )
    announce(result.journal_id, event)
    return result


def create_task(user: Any, new: NewTask) -> TaskInfo:
    """Create a task; announces TaskCreated after commit."""
    actor = actor_for(user)
    task = get_backend().create_task(actor, new)
    publish(TaskCreated(task=task, actor_id=actor.user_id))
    return task


def add_comment(user: Any, task_id: int, notes: str) -> JournalInfo:
    """Comment on a task; announces TaskCommented after commit."""
    actor = actor_for(user)
    backend = get_backend()
    journal = backend.add_comment(actor, task_id, notes)
    task = TaskFacts.of(backend.get_task(actor, task_id))
    announce(journal.id, TaskCommented(task=task, journal=journal, actor_id=actor.user_id))
    return journal


def update_task(
    user: Any, task_id: int, changes: TaskChanges, lock_version: int | None = None
) -> TaskUpdate:
    """Edit a task's fields; announces TaskEdited (with who is newly mentioned), or TaskCommented
    for notes alone, after commit."""
    actor = actor_for(user)
    result = get_backend().update_task(actor, task_id, changes, lock_version)
    event: TaskEdited | TaskCommented | None = None
    if result.journal_id is not None:
        journal = JournalInfo(
            id=result.journal_id,
            task_id=task_id,
            user=Named(actor.user_id, user.full_name or user.username),
            notes=changes.notes,
            created_on=utcnow(),
            details=result.details,
        )
        facts = TaskFacts.of(result.task)
        if not result.details:  # notes alone: a comment, told as one
            event = TaskCommented(task=facts, journal=journal, actor_id=actor.user_id)
        else:
            mentions = newly_mentioned(result.before.description, result.task.description)
            event = TaskEdited(
                task=facts,
                journal=journal,
                old_assignee_id=result.before.assigned_to.id if result.before.assigned_to else None,
                actor_id=actor.user_id,
                mentions=tuple(sorted(mentions | mentioned_usernames(changes.notes))),
                custom_field_names=tuple(
                    (value.id, value.name)
                    for value in (*result.before.custom_fields, *result.task.custom_fields)
                ),
            )
    announce(result.journal_id, event)
    return result


def set_watching(user: Any, task_id: int, user_id: int, watching: bool) -> TaskInfo:
    """Start or stop a user watching a task (watchers hear of its changes); a change announces
    TaskWatchersChanged after commit, its journal claimed (see announce)."""
    actor = actor_for(user)
    result = get_backend().set_watching(actor, task_id, user_id, watching)
    if result.changed:
        event = TaskWatchersChanged(
            task=TaskFacts.of(result.task),
            actor_id=actor.user_id,
            user_id=user_id,
            watching=watching,
            journal_id=result.journal_id,
            occurred_at=utcnow(),
        )
        announce(result.journal_id, event)
    return result.task


def announce(
    journal_id: int | None,
    event: TaskStatusChanged | TaskCommented | TaskEdited | TaskWatchersChanged | None,
) -> None:
    """Publish a change made here, its journal claimed so the change feed, meeting the journal
    in the backend's history, does not announce it again (publish_once); a journal without an
    event (a comment that moved nothing) is claimed all the same, since this change decided
    whom it tells."""
    if journal_id is not None:
        publish_once(journal_key(journal_id), event)
    elif event is not None:
        publish(event)


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """The result of one item of a bulk status change."""

    task_id: int
    change: StatusChange | None = None
    error: TaskError | None = None


def bulk_change_status(user: Any, updates: list[dict[str, Any]]) -> list[BulkOutcome]:
    """Change several tasks, each its own unit of work (changed, committed, announced), so one
    failure undoes only itself, also on a backend whose writes are not in our transaction."""
    outcomes = []
    for update in updates:
        try:
            change = change_status(
                user,
                update["task_id"],
                update["status_id"],
                update.get("comment"),
                update.get("notify_users", True),
            )
        except TaskError as error:
            rollback()
            outcomes.append(BulkOutcome(update["task_id"], error=error))
        else:
            commit()
            outcomes.append(BulkOutcome(update["task_id"], change=change))
    return outcomes
