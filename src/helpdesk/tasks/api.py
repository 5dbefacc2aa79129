"""The JSON task API under /tasks/api, in the seed's envelope: success, message, data, time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from helpdesk.core.api import envelope, parse_args, parse_body, parse_form
from helpdesk.core.decorators import redmine_user_required
from helpdesk.core.events import commit, rollback
from helpdesk.core.models import utcnow
from helpdesk.core.openapi import documented
from helpdesk.tasks import files, service
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import TaskError, TaskPage, TaskQuery
from helpdesk.tasks.schemas import (
    BulkResultOut,
    BulkStatusIn,
    BulkStatusOut,
    CommentIn,
    JournalOut,
    MemberOut,
    NamedOut,
    PriorityOut,
    ProjectOut,
    StatusChangeIn,
    StatusChangeOut,
    StatusOut,
    TaskCreatedOut,
    TaskCreateFilesIn,
    TaskCreateIn,
    TaskListOut,
    TaskListQuery,
    TaskOut,
    attachment_out,
    journal_doc,
    member_doc,
    named_doc,
    priority_doc,
    project_doc,
    status_doc,
    task_detail,
    task_out,
    task_row_fields,
)

bp = Blueprint("tasks_api", __name__, url_prefix="/tasks/api")
NEW_TASK = {"task_id": "$response.body#/data/task_id"}  # links from a created task
bp.before_request(redmine_user_required(lambda: None))


def parse_query() -> TaskListQuery:
    """Validate list query parameters; 400 names the offending parameter."""
    return parse_args(TaskListQuery)


def task_query(params: TaskListQuery, default_assignee: str) -> TaskQuery:
    """The backend query for validated parameters (default_assignee: see TaskListQuery.people)."""
    query = TaskQuery(
        status=params.status,
        priority=params.priority,
        project=params.project,
        search=params.search,
        closed_since=utcnow() - timedelta(days=params.closed_days) if params.closed_days else None,
        page=params.page,
        per_page=params.per_page,
        **params.people(current_user.id, default_assignee),
    )
    sort = params.sort_order()
    return replace(query, sort=sort) if sort else query


def numbered_task(params: TaskListQuery) -> TaskPage | None:
    """The one visible task a search of its number names, whatever the other filters; None when
    the search is no task number, or names no task the user may see (then it is searched as
    text)."""
    number = params.task_number()
    if number is None:
        return None
    query = TaskQuery(task_id=number, status="all", per_page=1)
    page = get_backend().list_tasks(service.actor_for(current_user), query)
    return page if page.items else None


def list_document(params: TaskListQuery, default_assignee: str) -> dict[str, Any]:
    """The seed's tasks/pagination/filters document for a task list; a search of a visible
    task's number answers that task alone, marked task_number."""
    page = numbered_task(params)
    if page is None:
        page = get_backend().list_tasks(
            service.actor_for(current_user), task_query(params, default_assignee)
        )
    document = {
        "tasks": [task_row_fields(task) for task in page.items],
        "pagination": {
            "page": page.page,
            "per_page": page.per_page,
            "total": page.total,
            "pages": (page.total + page.per_page - 1) // page.per_page,
        },
        "filters": {
            "status": params.status,
            "priority": params.priority,
            "project": params.project,
            "search": params.search,
            "sort": params.sort,
            "assigned_to": params.assigned_to or default_assignee,
            "author": params.author,
            "watcher": params.watcher,
        },
        "task_number": page.items[0].id if page.total == 1 and params.task_number() else None,
    }
    return TaskListOut.model_validate(document).model_dump()


def handle_task_error(error: TaskError) -> Response:
    """A backend refusal as a JSON error with its status code and details."""
    rollback()
    response = jsonify(
        {
            "success": False,
            "message": error.message,
            "status_code": error.status_code,
            **error.payload,
        }
    )
    response.status_code = error.status_code
    return response


bp.register_error_handler(TaskError, handle_task_error)


def actor() -> Any:
    """The backend actor for the signed-in user."""
    return service.actor_for(current_user)


@bp.get("/task/<int:task_id>")
@documented("One task", response=TaskOut)
def get_task_by_id(task_id: int) -> Response:
    """One task, as the seed documents it."""
    return envelope(task_detail(get_backend().get_task(actor(), task_id)))


NOTIFIED_COUNTER = "helpdesk_notified_counter"  # app.extensions: journal id -> people told


def count_notified_with(app: Flask, counter: Callable[[int], int]) -> None:
    """Let the feature that tells people of changes say how many one change told: tasks does not
    know who notifies (notifications depends on tasks, never the reverse)."""
    app.extensions[NOTIFIED_COUNTER] = counter


def notifications_for(journal_id: int | None) -> int:
    """How many people the change recorded in this journal told; none without a notifier."""
    counter = current_app.extensions.get(NOTIFIED_COUNTER)
    return 0 if journal_id is None or counter is None else counter(journal_id)


@bp.put("/task/<int:task_id>/status")
@documented("Change a task's status", body=StatusChangeIn, response=StatusChangeOut, also=(409,))
def update_task_status(task_id: int) -> Response:
    """Change a task's status with an optional comment."""
    body = parse_body(StatusChangeIn)
    result = service.change_status(
        current_user, task_id, body.status_id, body.comment, body.notify_users
    )
    commit()
    return envelope(
        StatusChangeOut(
            task_id=task_id,
            old_status=result.old_status.name,
            new_status=result.new_status.name,
            old_status_id=result.old_status.id,
            new_status_id=result.new_status.id,
            changed=result.changed,
            comment_added=bool(body.comment),
            notifications_sent=notifications_for(result.journal_id),
        ).model_dump(),
        _("Task status updated"),
    )


@bp.put("/tasks/status")
@documented("Change several tasks' statuses", body=BulkStatusIn, response=BulkStatusOut)
def bulk_update_status() -> Response:
    """Change several tasks' statuses; each succeeds or fails on its own (and commits itself)."""
    body = parse_body(BulkStatusIn)
    outcomes = service.bulk_change_status(current_user, [u.model_dump() for u in body.updates])
    results = []
    for outcome in outcomes:
        if outcome.change is not None:
            results.append(
                BulkResultOut(
                    task_id=outcome.task_id,
                    success=True,
                    old_status=outcome.change.old_status.name,
                    new_status=outcome.change.new_status.name,
                )
            )
        else:
            assert outcome.error is not None
            results.append(
                BulkResultOut(
                    task_id=outcome.task_id,
                    success=False,
                    status_code=outcome.error.status_code,
                    message=outcome.error.message,
                    **outcome.error.payload,
                )
            )
    succeeded = sum(1 for r in results if r.success)
    data = BulkStatusOut(results=results, succeeded=succeeded, failed=len(results) - succeeded)
    return envelope(
        data.model_dump(exclude_unset=True),
        _("%(ok)d of %(total)d tasks updated.", ok=succeeded, total=len(results)),
    )


@bp.post("/task")
@documented(
    "Create a task",
    body=TaskCreateIn,
    form_body=TaskCreateFilesIn,
    response=TaskCreatedOut,
    status=201,
    links={
        "GetTask": ("tasks_api.get_task_by_id", NEW_TASK),
        "ChangeStatus": ("tasks_api.update_task_status", NEW_TASK),
        "AllowedStatuses": ("tasks_api.allowed_statuses", NEW_TASK),
        "Comment": ("tasks_api.add_comment", NEW_TASK),
        "History": ("tasks_api.task_journals", NEW_TASK),
        "Edit": ("tasks_edit_api.edit_task", NEW_TASK),
        "Watchers": ("tasks_edit_api.watchers", NEW_TASK),
    },
)
def create_task() -> Response:
    """Create a task; 201 with the seed's summary of it. A JSON body, or multipart/form-data:
    the same fields as form fields (custom fields as cf_<id>) with files to attach (`files`),
    all checked before anything is created."""
    if request.mimetype == "multipart/form-data":
        body = parse_form(TaskCreateIn, TaskCreateIn.form_fields(request.form))
        sent = tuple(files.inspect_sent(request.files.getlist("files")))
        new = replace(body.to_new_task(), files=sent)
    else:
        new = parse_body(TaskCreateIn).to_new_task()
    task = service.create_task(current_user, new)
    commit()
    added = get_backend().attachments(actor(), task.id) if new.files else []
    detail = task_out(task)
    data = TaskCreatedOut(
        task_id=task.id,
        subject=task.subject,
        status=task.status.name,
        assigned_to=task.assigned_to.name if task.assigned_to else None,
        project=task.project.name,
        created_on=detail.created_on,
        task=detail,
        attachments=[attachment_out(item) for item in added],
    )
    return envelope(data.model_dump(), _("Task created successfully"), 201)


@bp.get("/tasks")
@documented("Tasks the user may see, filtered", query=TaskListQuery, response=TaskListOut)
def list_tasks() -> Response:
    """Visible tasks with filters; `assigned_to` is me, none, any or a user id (default any)."""
    return envelope(list_document(parse_query(), "any"))


@bp.get("/task/<int:task_id>/journals")
@documented("A task's history, oldest first", response=list[JournalOut])
def task_journals(task_id: int) -> Response:
    """A task's history, oldest first."""
    return envelope([journal_doc(j) for j in get_backend().journals(actor(), task_id)])


@bp.post("/task/<int:task_id>/comments")
@documented("Comment on a task", body=CommentIn, response=JournalOut, status=201)
def add_comment(task_id: int) -> Response:
    """Add a comment to a task."""
    body = parse_body(CommentIn)
    journal = service.add_comment(current_user, task_id, body.notes)
    commit()
    return envelope(journal_doc(journal), _("Comment added"), 201)


@bp.get("/task/<int:task_id>/allowed-statuses")
@documented("The statuses the user may move a task to", response=list[StatusOut])
def allowed_statuses(task_id: int) -> Response:
    """Statuses the user may move this task to."""
    return envelope([status_doc(s) for s in get_backend().allowed_statuses(actor(), task_id)])


def lookup(
    name: str, fetch: Callable[[], list[Any]], doc: Callable[[Any], dict[str, Any]], out: Any
) -> None:
    """Register a GET lookup route."""
    view = documented(f"The {name}", response=list[out])(
        lambda: envelope([doc(x) for x in fetch()])
    )
    bp.add_url_rule(f"/{name}", f"lookup_{name}", view)


lookup("statuses", lambda: get_backend().statuses(), status_doc, StatusOut)
lookup("priorities", lambda: get_backend().priorities(), priority_doc, PriorityOut)
lookup("trackers", lambda: get_backend().trackers(), named_doc, NamedOut)
lookup("projects", lambda: get_backend().projects(actor()), project_doc, ProjectOut)


@bp.get("/projects/<int:project_id>/members")
@documented("Members of a project the user can see", response=list[MemberOut])
def project_members(project_id: int) -> Response:
    """Members of a project the user can see."""
    return envelope([member_doc(m) for m in get_backend().members(actor(), project_id)])
