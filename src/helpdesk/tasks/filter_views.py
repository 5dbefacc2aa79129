"""Saved filters: the JSON API under /tasks/api/filters and the My Tasks page's forms."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import ValidationError
from werkzeug.wrappers import Response

from helpdesk.core.api import envelope, errors_by_field, parse_body
from helpdesk.core.decorators import redmine_user_required
from helpdesk.core.events import commit, rollback
from helpdesk.core.openapi import documented
from helpdesk.tasks import saved_filters
from helpdesk.tasks.api import handle_task_error
from helpdesk.tasks.backends.base import TaskError
from helpdesk.tasks.saved_filters import SavedFilterIn
from helpdesk.tasks.schemas import SavedFilterOut

api_bp = Blueprint("task_filters_api", __name__, url_prefix="/tasks/api/filters")
api_bp.before_request(redmine_user_required(lambda: None))
api_bp.register_error_handler(TaskError, handle_task_error)

pages_bp = Blueprint("task_filters", __name__, url_prefix="/tasks/filters")
pages_bp.before_request(redmine_user_required(lambda: None))


@api_bp.get("")
@documented("The user's saved filters, by name", response=list[SavedFilterOut])
def list_filters() -> Response:
    """The user's saved filters, by name."""
    return envelope([saved_filters.doc(s) for s in saved_filters.of_user(current_user.id)])


@api_bp.post("")
@documented("Save a filter", body=SavedFilterIn, response=SavedFilterOut, status=201)
def create_filter() -> Response:
    """Save a named filter (name, query: a My Tasks query string); 201."""
    saved = saved_filters.save(current_user.id, parse_body(SavedFilterIn))
    commit()
    return envelope(saved_filters.doc(saved), _("Filter saved"), 201)


@api_bp.get("/<int:filter_id>")
@documented("One of the user's saved filters", response=SavedFilterOut)
def get_filter(filter_id: int) -> Response:
    """One of the user's saved filters (another user's is 404)."""
    return envelope(saved_filters.doc(saved_filters.owned(current_user.id, filter_id)))


@api_bp.put("/<int:filter_id>")
@documented("Change a saved filter", body=SavedFilterIn, response=SavedFilterOut)
def update_filter(filter_id: int) -> Response:
    """Rename or change one of the user's saved filters."""
    body = parse_body(SavedFilterIn)
    saved = saved_filters.update(current_user.id, filter_id, body)
    commit()
    return envelope(saved_filters.doc(saved), _("Filter saved"))


@api_bp.delete("/<int:filter_id>")
@documented("Delete a saved filter", response=None)
def delete_filter(filter_id: int) -> Response:
    """Delete one of the user's saved filters."""
    saved_filters.delete(current_user.id, filter_id)
    commit()
    return envelope(None, _("Filter deleted"))


@pages_bp.post("")
def save_from_page() -> Response:
    """Save the filters the page shows under a name, then show them."""
    form = {"name": request.form.get("name", ""), "query": request.form.get("query", "")}
    try:
        saved = saved_filters.save(current_user.id, SavedFilterIn.model_validate(form))
        commit()
    except ValidationError as error:
        messages = [" ".join(texts) for texts in errors_by_field(error).values()]
        flash(" ".join(messages), "danger")
        return redirect(url_for("tasks.my_tasks"))
    except TaskError as error:
        rollback()
        problems = error.payload.get("errors", {}).values()
        flash(" ".join(text for texts in problems for text in texts) or error.message, "danger")
        return redirect(url_for("tasks.my_tasks"))
    flash(_("Filter saved"), "success")
    return redirect(url_for("tasks.my_tasks") + "?" + saved.query)


@pages_bp.post("/<int:filter_id>/delete")
def delete_from_page(filter_id: int) -> Response:
    """Delete one of the user's saved filters from the page."""
    try:
        saved_filters.delete(current_user.id, filter_id)
        commit()
        flash(_("Filter deleted"), "success")
    except TaskError as error:
        rollback()
        flash(error.message, "danger")
    return redirect(url_for("tasks.my_tasks"))
