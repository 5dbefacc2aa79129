"""The task API's editing endpoints: PATCH a task, its watchers, the people one may mention."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from helpdesk.core.api import envelope, parse_args, parse_body
from helpdesk.core.decorators import redmine_user_required
from helpdesk.core.events import commit, rollback
from helpdesk.core.openapi import documented
from helpdesk.extensions import db
from helpdesk.tasks import service
from helpdesk.tasks.api import actor, handle_task_error
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import TaskConflict, TaskError, TaskInfo
from helpdesk.tasks.edit_page import user_names
from helpdesk.tasks.schemas import (
    ConflictOut,
    PeopleQuery,
    PersonOut,
    TaskEditedOut,
    TaskEditIn,
    WatcherIn,
    WatcherOut,
    WatchersOut,
    details_doc,
    journal_out,
    task_out,
)
from helpdesk.users.models import User

bp = Blueprint("tasks_edit_api", __name__, url_prefix="/tasks/api")
bp.before_request(redmine_user_required(lambda: None))
bp.register_error_handler(TaskError, handle_task_error)

MENTION_CHOICES = 10  # people the autocomplete offers at once


@bp.patch("/task/<int:task_id>")
@documented(
    "Edit a task's fields",
    body=TaskEditIn,
    response=TaskEditedOut,
    extra_responses={409: ConflictOut},
)
def edit_task(task_id: int) -> Response:
    """Edit a task's fields; 409 with the task as it is now when lock_version is stale."""
    body = parse_body(TaskEditIn)
    try:
        result = service.update_task(current_user, task_id, body.to_changes(), body.lock_version)
    except TaskConflict as error:
        rollback()
        return conflict(task_id, error)
    commit()
    return envelope(
        TaskEditedOut(
            task=task_out(result.task),
            changed=result.journal_id is not None,
            journal_id=result.journal_id,
            details=details_doc(result.details),
        ).model_dump(),
        _("Task updated"),
    )


def conflict(task_id: int, error: TaskConflict) -> Response:
    """409 with what the other person changed: the task now and its latest history entry."""
    backend = get_backend()
    task = backend.get_task(actor(), task_id)
    journals = backend.journals(actor(), task_id)
    response = jsonify(
        ConflictOut(
            success=False,
            message=error.message,
            status_code=409,
            task=task_out(task),
            last_change=journal_out(journals[-1]) if journals else None,
        ).model_dump()
    )
    response.status_code = 409
    return response


def watchers_doc(task: TaskInfo) -> dict[str, Any]:
    """A task's watchers by name, whether the user watches it and may choose others."""
    names = user_names(task.watcher_ids)
    rights = get_backend().task_rights(actor(), task.id)
    return WatchersOut(
        watchers=[
            WatcherOut(user_id=user_id, name=names.get(user_id, str(user_id)))
            for user_id in task.watcher_ids
        ],
        watching=current_user.id in task.watcher_ids,
        may_manage=rights.may_manage_watchers,
    ).model_dump()


@bp.get("/task/<int:task_id>/watchers")
@documented("Who watches a task", response=WatchersOut)
def watchers(task_id: int) -> Response:
    """Who watches a task."""
    return envelope(watchers_doc(get_backend().get_task(actor(), task_id)))


@bp.post("/task/<int:task_id>/watchers")
@documented("Start someone watching a task", body=WatcherIn, response=WatchersOut)
def add_watcher(task_id: int) -> Response:
    """Start a user (oneself, or if allowed another who may see the task) watching a task."""
    body = parse_body(WatcherIn)
    task = service.set_watching(current_user, task_id, body.user_id, watching=True)
    commit()
    return envelope(watchers_doc(task), _("Watcher added"))


@bp.delete("/task/<int:task_id>/watchers/<int:user_id>")
@documented("Stop someone watching a task", response=WatchersOut)
def remove_watcher(task_id: int, user_id: int) -> Response:
    """Stop a user watching a task (oneself, or if allowed another)."""
    task = service.set_watching(current_user, task_id, user_id, watching=False)
    commit()
    return envelope(watchers_doc(task), _("Watcher removed"))


@bp.get("/projects/<int:project_id>/people")
@documented("Project members one may @mention", query=PeopleQuery, response=list[PersonOut])
def people(project_id: int) -> Response:
    """Members of a visible project by username, for @mentions: those whose username or name
    starts with `q` (or has a word starting with it), MENTION_CHOICES at most."""
    wanted = parse_args(PeopleQuery).q.strip().lower()[:60]
    members = get_backend().members(actor(), project_id)
    rows = db.session.execute(
        select(User.id, User.username).where(User.id.in_([m.user_id for m in members]))
    )
    usernames = dict(rows.all())
    found = []
    for member in members:
        username = usernames.get(member.user_id)
        if username is None:
            continue
        words = [username.lower(), *member.name.lower().split()]
        if not wanted or any(word.startswith(wanted) for word in words):
            found.append(PersonOut(user_id=member.user_id, username=username, name=member.name))
    return envelope([person.model_dump() for person in found[:MENTION_CHOICES]])
