"""Admin pages for projects, their members, roles and each role's workflow (the local backend;
with Redmine they are Redmine's, and these pages say so)."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from helpdesk.admin.forms import (
    CsrfOnlyForm,
    MemberForm,
    ProjectEditForm,
    ProjectForm,
    RoleChoiceForm,
    RoleForm,
)
from helpdesk.admin.schemas import (
    AdminProjectOut,
    MemberIn,
    MembershipOut,
    ProjectEditIn,
    ProjectIn,
    RoleChoiceIn,
    RoleIn,
    RoleOut,
    StructureDoneOut,
    WorkflowIn,
    WorkflowOut,
)
from helpdesk.admin.views import bp
from helpdesk.core.decorators import admin_required
from helpdesk.core.errors import APIException, wants_json_response
from helpdesk.core.openapi import documented
from helpdesk.extensions import db
from helpdesk.tasks import structure
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.models import Member, Project, Role
from helpdesk.users.models import User
from helpdesk.users.views import form_errors

Made = AdminProjectOut | MembershipOut | RoleOut | WorkflowOut


# An administrator's change of projects, members, roles or the workflow, as the API documents it
documented_change = partial(
    documented, response=StructureDoneOut, access="admin", tag="admin", enveloped=False
)


def _writable() -> None:
    """Changes only where the helpdesk keeps the projects."""
    structure.require_local_backend(get_backend().name)


def _answer(message: str, endpoint: str, data: Made | None = None, **args: Any) -> Response:
    """JSON for scripts; back to the page with a message for browsers."""
    if wants_json_response():
        return jsonify(StructureDoneOut(success=True, message=message, data=data).model_dump())
    flash(message, "success")
    return redirect(url_for(endpoint, **args), 303)


def _project_data(project: Project) -> AdminProjectOut:
    """A project as JSON clients get it."""
    return AdminProjectOut(
        id=project.id,
        identifier=project.identifier,
        name=project.name,
        description=project.description,
    )


@bp.get("/projects")
@admin_required
def projects() -> str:
    """Every project with its members and tasks counted, and a form to add one."""
    return render_template(
        "admin/projects.html",
        rows=structure.projects(),
        form=ProjectForm(formdata=None),
        writable=get_backend().name == "local",
    )


@bp.post("/projects")
@documented_change(
    "Add a project (the local task backend only: 409 with Redmine)",
    body=ProjectIn,
    also=(409,),
)
@admin_required
def create_project() -> Response | tuple[str, int]:
    """Add a project."""
    _writable()
    form = ProjectForm()
    if not form.validate():
        if wants_json_response():
            return form_errors(form)
        page = render_template(
            "admin/projects.html", rows=structure.projects(), form=form, writable=True
        )
        return page, 422
    project = structure.create_project(
        form.identifier.data, form.name.data, form.description.data or ""
    )
    db.session.commit()
    return _answer(
        _("Project %(name)s added.", name=project.name),
        "admin.project",
        _project_data(project),
        project_id=project.id,
    )


def _project(project_id: int) -> Project:
    """The project named in the URL, or 404."""
    return db.get_or_404(Project, project_id)


@bp.route("/projects/<int:project_id>", methods=["GET", "POST"])
@documented_change(
    "Rename or describe a project",
    method="POST",
    body=ProjectEditIn,
    also=(409,),
)
@admin_required
def project(project_id: int) -> Response | str:
    """A project: its name and description, and its members with their roles; a POST renames
    or describes it."""
    found = _project(project_id)
    if request.method == "POST":
        return update_project(found)
    return render_template(
        "admin/project.html",
        project=found,
        members=structure.members(found.id),
        roles=structure.roles(),
        form=ProjectEditForm(formdata=None, obj=found),
        member_form=MemberForm(formdata=None),
        writable=get_backend().name == "local",
    )


def update_project(found: Project) -> Response:
    """Rename or describe a project."""
    _writable()
    form = ProjectEditForm()
    if not form.validate():
        return form_errors(form)
    structure.update_project(found, form.name.data, form.description.data or "")
    db.session.commit()
    return _answer(
        _("Project %(name)s saved.", name=found.name),
        "admin.project",
        _project_data(found),
        project_id=found.id,
    )


@bp.post("/projects/<int:project_id>/members")
@documented_change(
    "Make a user a member of the project with a role",
    body=MemberIn,
    also=(409,),
)
@admin_required
def add_member(project_id: int) -> Response:
    """Make a user a member of the project with a role."""
    found = _project(project_id)
    _writable()
    form = MemberForm()
    if not form.validate():
        return form_errors(form)
    user = db.session.scalar(
        select(User).where(func.lower(User.username) == form.username.data.strip().lower())
    )
    if user is None:
        raise APIException(
            _("No user is called %(name)s.", name=form.username.data),
            422,
            {"errors": {"username": [_("Unknown user.")]}},
        )
    structure.add_member(found, user, form.role_id.data)
    db.session.commit()
    return _answer(
        _("%(name)s joined %(project)s.", name=user.username, project=found.name),
        "admin.project",
        MembershipOut(user_id=user.id, role_id=form.role_id.data),
        project_id=found.id,
    )


def _membership(project_id: int, user_id: int) -> Member:
    """The membership named in the URL, or 404."""
    member = structure.membership(_project(project_id).id, user_id)
    if member is None:
        raise APIException(_("This user is not a member of the project."), 404)
    return member


@bp.post("/projects/<int:project_id>/members/<int:user_id>")
@documented_change(
    "Give a member another role",
    body=RoleChoiceIn,
    also=(409,),
)
@admin_required
def change_member_role(project_id: int, user_id: int) -> Response:
    """Give a member another role."""
    member = _membership(project_id, user_id)
    _writable()
    form = RoleChoiceForm()
    if not form.validate():
        return form_errors(form)
    structure.change_role(member, form.role_id.data)
    db.session.commit()
    return _answer(
        _("The role was changed."),
        "admin.project",
        MembershipOut(user_id=user_id, role_id=form.role_id.data),
        project_id=project_id,
    )


@bp.post("/projects/<int:project_id>/members/<int:user_id>/delete")
@documented_change(
    "End a membership (tasks stay)",
    also=(409,),
)
@admin_required
def remove_member(project_id: int, user_id: int) -> Response:
    """End a membership (tasks stay)."""
    member = _membership(project_id, user_id)
    _writable()
    if not CsrfOnlyForm().validate():
        _refuse_stale_form()
    structure.remove_member(member)
    db.session.commit()
    return _answer(_("The member was removed."), "admin.project", None, project_id=project_id)


def _refuse_stale_form() -> None:
    """A browser form without a valid CSRF token."""
    raise APIException(_("The form has expired or is invalid. Please try again."), 400)


@bp.get("/roles")
@admin_required
def roles() -> str:
    """Roles, each with a link to its workflow, and a form to add one."""
    return render_template(
        "admin/roles.html",
        roles=structure.roles(),
        form=RoleForm(formdata=None),
        writable=get_backend().name == "local",
    )


@bp.post("/roles")
@documented_change(
    "Add a role",
    body=RoleIn,
    also=(409,),
)
@admin_required
def create_role() -> Response:
    """Add a role."""
    _writable()
    form = RoleForm()
    if not form.validate():
        return form_errors(form)
    role = structure.create_role(form.name.data, bool(form.can_be_assigned.data))
    db.session.commit()
    return _answer(
        _("Role %(name)s added.", name=role.name),
        "admin.workflow",
        RoleOut(id=role.id, name=role.name, can_be_assigned=role.can_be_assigned),
        role_id=role.id,
    )


@bp.route("/roles/<int:role_id>/workflow", methods=["GET", "POST"])
@documented_change(
    "Replace a role's workflow",
    method="POST",
    body=WorkflowIn,
    also=(409,),
)
@admin_required
def workflow(role_id: int) -> Response | str:
    """Which status moves a role may make: a matrix of checkboxes; a POST replaces them."""
    role = db.get_or_404(Role, role_id)
    if request.method == "POST":
        return save_workflow(role)
    return render_template(
        "admin/workflow.html",
        role=role,
        statuses=structure.statuses(),
        allowed=structure.transitions(role.id),
        form=CsrfOnlyForm(formdata=None),
        writable=get_backend().name == "local",
    )


def save_workflow(role: Role) -> Response:
    """Replace a role's workflow: checkboxes `move` = "from-to", or JSON `transitions`, a list
    of [from, to] status id pairs (an empty list: any move)."""
    _writable()
    moves = _sent_moves()
    structure.set_transitions(role, moves)
    db.session.commit()
    data = WorkflowOut(role_id=role.id, transitions=sorted(moves))
    return _answer(
        _("The workflow of %(name)s was saved.", name=role.name),
        "admin.workflow",
        data,
        role_id=role.id,
    )


def _sent_moves() -> set[tuple[int, int]]:
    """The moves a request names, or a 422 saying what is wrong."""
    wrong = APIException(
        _("transitions must be a list of [from, to] status id pairs."),
        422,
        {"errors": {"transitions": [_("Use pairs of two different known statuses.")]}},
    )
    if request.is_json:
        body = request.get_json(silent=True)
        pairs = body.get("transitions") if isinstance(body, dict) else None
        if not isinstance(pairs, list):
            raise wrong
    else:
        if not CsrfOnlyForm().validate():
            _refuse_stale_form()
        pairs = [value.split("-", 1) for value in request.form.getlist("move")]
    moves: set[tuple[int, int]] = set()
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2:
            raise wrong
        try:
            old, new = (_status_id(value) for value in pair)
        except ValueError:
            raise wrong from None
        moves.add((old, new))
    return moves


def _status_id(value: object) -> int:
    """A status id from JSON (an integer) or a form (digits); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(value)
    if isinstance(value, str) and not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise ValueError(value)
    number = int(value)
    if not 0 < number < 2**31:
        raise ValueError(value)
    return number
