"""Task pages: My Tasks, one task, the new-task form and the Kanban board."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import ValidationError
from werkzeug.wrappers import Response

from helpdesk.core.api import errors_by_field
from helpdesk.core.decorators import redmine_user_required
from helpdesk.core.errors import error_response, wants_json_response
from helpdesk.core.events import commit, rollback
from helpdesk.core.openapi import documented
from helpdesk.tasks import files, saved_filters, service
from helpdesk.tasks.api import list_document, parse_query
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import CustomFieldInfo, ProjectInfo, TaskError
from helpdesk.tasks.edit_page import edit_context
from helpdesk.tasks.schemas import (
    CommentIn,
    StatusChangeIn,
    TaskCreateIn,
    TaskListOut,
    TaskListQuery,
)

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


task_right = redmine_user_required(lambda: None)


@bp.before_request
def require_task_access() -> Any:
    """The task pages need task access (the seed's is_redmine_user); a signed-in account
    without it is told why and what it can do meanwhile, not given a bare 403."""
    user = current_user._get_current_object()
    if user.is_authenticated and not user.has_task_access and not wants_json_response():
        approval = current_app.config["REGISTRATION"] == "approval"
        return render_template("tasks/no_access.html", approval=approval), 403
    return task_right()


@bp.errorhandler(TaskError)
def task_error_page(error: TaskError) -> Response:
    """A backend failure no view handles itself (Redmine unreachable, an account Redmine does
    not know) as the error page with its status and message, never a 500."""
    rollback()
    return error_response(error.status_code, error.message)


def lookups() -> dict[str, Any]:
    """Statuses, priorities, trackers and the user's projects, for filters and forms."""
    backend = get_backend()
    return {
        "statuses": backend.statuses(),
        "priorities": backend.priorities(),
        "trackers": backend.trackers(),
        "projects": backend.projects(service.actor_for(current_user)),
    }


@bp.get("/my-tasks")
@documented(
    "The user's queues (send Accept: application/json; a page otherwise)",
    query=TaskListQuery,
    response=TaskListOut,
    enveloped=False,
)
def my_tasks() -> Response | str:
    """The user's queues (assigned to them by default; reported, watched, unassigned, all): a
    page for browsers, the seed's JSON document for clients; a task number jumps to the task."""
    params = parse_query()
    document = list_document(params, "me")
    if wants_json_response():
        return jsonify(document)
    if document["task_number"] is not None:
        return redirect(url_for("tasks.task_page", task_id=document["task_number"]))
    return render_template(
        "tasks/my_tasks.html",
        doc=document,
        params=params,
        saved_filters=saved_filters.of_user(current_user.id),
        filters={
            key: request.args[key] for key in saved_filters.KEPT_WITH_SIZE if request.args.get(key)
        },
        today=datetime.now(get_timezone()).date().isoformat(),
        **lookups(),
    )


@bp.get("/<int:task_id>")
def task_page(task_id: int) -> str | tuple[str, int]:
    """One task with its history, a comment form and the statuses the user may choose."""
    backend = get_backend()
    actor = service.actor_for(current_user)
    try:
        task = backend.get_task(actor, task_id)
    except TaskError as error:
        return render_template(
            "errors/error.html", status=error.status_code, title=_("Task"), message=error.message
        ), error.status_code
    journals = backend.journals(actor, task_id)
    return render_template(
        "tasks/task.html",
        task=task,
        journals=journals,
        allowed=backend.allowed_statuses(actor, task_id),
        statuses={s.id: s.name for s in backend.statuses()},
        attachments=backend.attachments(actor, task_id),
        plain_text=backend.text_format() == "plain",
        **edit_context(actor, task, journals),
    )


@bp.post("/<int:task_id>/comment")
def comment(task_id: int) -> Response:
    """Add a comment from the task page."""
    try:
        body = CommentIn.model_validate({"notes": request.form.get("notes", "")})
        service.add_comment(current_user, task_id, body.notes)
        commit()
        flash(_("Comment added"), "success")
    except ValidationError as error:
        flash(" ".join(errors_by_field(error).get("notes", [])), "danger")
    except TaskError as error:
        rollback()
        flash(error.message, "danger")
    return redirect(url_for("tasks.task_page", task_id=task_id))


@bp.post("/<int:task_id>/status")
def change_status(task_id: int) -> Response:
    """Change the status from the task page."""
    try:
        body = StatusChangeIn.model_validate(
            {
                "status_id": request.form.get("status_id", ""),
                "comment": request.form.get("comment") or None,
            },
            strict=False,
        )
        service.change_status(current_user, task_id, body.status_id, body.comment)
        commit()
        flash(_("Task status updated"), "success")
    except ValidationError:
        flash(_("Choose a status."), "danger")
    except TaskError as error:
        rollback()
        flash(error.message, "danger")
    return redirect(url_for("tasks.task_page", task_id=task_id))


@bp.route("/new", methods=["GET", "POST"])
def new_task() -> Response | str | tuple[str, int]:
    """Create a task from a form; the same rules as the API apply."""
    choices = lookups()
    custom_fields = _custom_fields(choices["projects"], request.form.get("project_id"))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            offered = {field.id for field in custom_fields}
            fields = TaskCreateIn.form_fields(request.form, offered)
            body = TaskCreateIn.model_validate(fields, strict=False)
            sent = tuple(files.inspect_sent(request.files.getlist("files")))
            task = service.create_task(current_user, replace(body.to_new_task(), files=sent))
            commit()
            flash(_("Task created successfully"), "success")
            return redirect(url_for("tasks.task_page", task_id=task.id))
        except ValidationError as error:
            errors = errors_by_field(error)
        except TaskError as error:
            rollback()
            errors = error.payload.get("errors") or {"": [error.message]}
    page = render_template(
        "tasks/new.html",
        form=request.form,
        errors=errors,
        custom_fields=custom_fields,
        members=_assignable_members(),
        **choices,
    )
    return (page, 422) if errors else page


def _custom_fields(projects: list[ProjectInfo], chosen: str | None) -> list[CustomFieldInfo]:
    """The custom fields of the form's project: the one chosen, else the first on offer."""
    project_id = next((p.id for p in projects if str(p.id) == chosen), None)
    if project_id is None and projects:
        project_id = projects[0].id
    if project_id is None:
        return []
    return get_backend().custom_fields(service.actor_for(current_user), project_id)


def _assignable_members() -> dict[int, list[Any]]:
    """Members of each of the user's projects, for the assignee choice."""
    backend = get_backend()
    actor = service.actor_for(current_user)
    return {p.id: backend.members(actor, p.id) for p in backend.projects(actor)}


@bp.get("/kanban")
def kanban() -> str:
    """The board: a column per status, cards loaded page by page from the API."""
    people = {m.user_id: m.name for members in _assignable_members().values() for m in members}
    return render_template(
        "tasks/kanban.html",
        column_size=current_app.config["KANBAN_COLUMN_SIZE"],
        closed_days=current_app.config["KANBAN_CLOSED_DAYS"],
        people=sorted(people.items(), key=lambda item: item[1].lower()),
        **lookups(),
    )
