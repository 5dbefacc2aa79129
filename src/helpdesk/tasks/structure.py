"""Projects, their members, roles and each role's workflow, as administrators change them in the
local backend (the Redmine backend's are Redmine's own); callers commit."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import delete, exists, func, select

from helpdesk.core.errors import APIException
from helpdesk.extensions import db
from helpdesk.tasks.models import Member, Project, Role, Task, TaskStatus, WorkflowTransition
from helpdesk.users.models import User


def require_local_backend(backend_name: str) -> None:
    """With Redmine as the backend, Redmine keeps projects, members, roles and the workflow."""
    if backend_name != "local":
        raise APIException(
            _("Projects, members, roles and the workflow are Redmine's: change them in Redmine."),
            409,
        )


@dataclass(frozen=True)
class ProjectRow:
    """A project as the admin list shows it."""

    project: Project
    members: int
    tasks: int


def projects() -> list[ProjectRow]:
    """Every project, by name, with its numbers of members and tasks."""
    members = select(func.count()).where(Member.project_id == Project.id).scalar_subquery()
    tasks = select(func.count()).where(Task.project_id == Project.id).scalar_subquery()
    rows = db.session.execute(select(Project, members, tasks).order_by(Project.name))
    return [
        ProjectRow(project, member_count, task_count) for project, member_count, task_count in rows
    ]


def create_project(identifier: str, name: str, description: str) -> Project:
    """A new project; its identifier names it in URLs and filters and is unique."""
    if db.session.scalar(select(exists().where(Project.identifier == identifier))):
        raise APIException(
            _("A project with this identifier exists."),
            409,
            {"errors": {"identifier": [_("Already taken.")]}},
        )
    project = Project(identifier=identifier, name=name.strip(), description=description.strip())
    db.session.add(project)
    db.session.flush()
    return project


def update_project(project: Project, name: str, description: str) -> None:
    """Rename or describe a project (its identifier stays: links and filters use it)."""
    project.name = name.strip()
    project.description = description.strip()
    db.session.flush()


def members(project_id: int) -> list[tuple[Member, User]]:
    """A project's members with their accounts, by name."""
    rows = db.session.execute(
        select(Member, User)
        .join(User, User.id == Member.user_id)
        .where(Member.project_id == project_id)
        .order_by(func.coalesce(User.full_name, User.username))
    )
    return [(member, user) for member, user in rows]


def _role(role_id: int) -> Role:
    """A role by id, or a 422 naming the field."""
    role = db.session.get(Role, role_id)
    if role is None:
        raise APIException(
            _("Unknown role."), 422, {"errors": {"role_id": [_("Choose one of the roles.")]}}
        )
    return role


def add_member(project: Project, user: User, role_id: int) -> Member:
    """Make a user a member with a role (one membership per project)."""
    role = _role(role_id)
    if db.session.scalar(
        select(exists().where(Member.project_id == project.id, Member.user_id == user.id))
    ):
        raise APIException(_("%(name)s is already a member.", name=user.username), 409)
    member = Member(project_id=project.id, user_id=user.id, role_id=role.id)
    db.session.add(member)
    db.session.flush()
    return member


def membership(project_id: int, user_id: int) -> Member | None:
    """One user's membership of a project."""
    return db.session.scalar(
        select(Member).where(Member.project_id == project_id, Member.user_id == user_id)
    )


def change_role(member: Member, role_id: int) -> None:
    """Give a member another role."""
    member.role_id = _role(role_id).id
    db.session.flush()


def remove_member(member: Member) -> None:
    """End a membership (the user's tasks there stay, as in Redmine)."""
    db.session.delete(member)
    db.session.flush()


def roles() -> list[Role]:
    """Every role, in display order."""
    return list(db.session.scalars(select(Role).order_by(Role.position, Role.id)))


def create_role(name: str, can_be_assigned: bool) -> Role:
    """A new role, last in order; with no transitions it may make any status change."""
    if db.session.scalar(select(exists().where(func.lower(Role.name) == name.strip().lower()))):
        raise APIException(
            _("A role with this name exists."), 409, {"errors": {"name": [_("Already taken.")]}}
        )
    last = db.session.scalar(select(func.max(Role.position))) or 0
    role = Role(name=name.strip(), can_be_assigned=can_be_assigned, position=last + 1)
    db.session.add(role)
    db.session.flush()
    return role


def statuses() -> list[TaskStatus]:
    """Every status, in workflow order."""
    return list(db.session.scalars(select(TaskStatus).order_by(TaskStatus.position, TaskStatus.id)))


def transitions(role_id: int) -> set[tuple[int, int]]:
    """The (from, to) status moves a role may make; empty: any move."""
    rows = db.session.execute(
        select(WorkflowTransition.old_status_id, WorkflowTransition.new_status_id).where(
            WorkflowTransition.role_id == role_id
        )
    )
    return {(old, new) for old, new in rows}


def set_transitions(role: Role, moves: set[tuple[int, int]]) -> None:
    """Replace a role's workflow: exactly these moves (none at all: any move)."""
    known = {status.id for status in statuses()}
    wrong = [
        f"{old}-{new}" for old, new in moves if old not in known or new not in known or old == new
    ]
    if wrong:
        raise APIException(
            _("Unknown status moves: %(moves)s.", moves=", ".join(sorted(wrong))),
            422,
            {"errors": {"transitions": [_("Use pairs of two different known statuses.")]}},
        )
    db.session.execute(delete(WorkflowTransition).where(WorkflowTransition.role_id == role.id))
    db.session.add_all(
        WorkflowTransition(role_id=role.id, old_status_id=old, new_status_id=new)
        for old, new in sorted(moves)
    )
    db.session.flush()
