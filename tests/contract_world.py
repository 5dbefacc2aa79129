"""The world the task backend contract tests act in, built once per backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import Actor, NewTask, TaskBackend, TaskInfo
from helpdesk.tasks.models import (
    CustomField,
    Member,
    Project,
    Role,
    TaskStatus,
    WorkflowTransition,
)


@dataclass
class World:
    """Two projects: alice develops in both, bob in P2 only, carol reports in P1, dave in none;
    new tasks may have a Customer (at most 20 characters)."""

    backend: TaskBackend
    actors: dict[str, Actor]
    projects: dict[str, int]
    statuses: dict[str, int]
    restrict: Callable[[str, str, list[str]], None]
    tasks: dict[str, TaskInfo] = field(default_factory=dict)

    def create(self, who: str, project: str, subject: str, **fields: Any) -> TaskInfo:
        """Create a task through the backend under test."""
        task = self.backend.create_task(
            self.actors[who], NewTask(project_id=self.projects[project], subject=subject, **fields)
        )
        db.session.commit()
        return task


def local_world(make_user: Callable[..., Any]) -> World:
    """The world in the helpdesk's own tables."""
    users = {
        "admin": make_user("admin", is_admin=True, is_redmine_user=True),
        "alice": make_user("alice", is_redmine_user=True, full_name="Alice Ivanova"),
        "bob": make_user("bob", is_redmine_user=True, full_name="Bob Petrov"),
        "carol": make_user("carol", is_redmine_user=True),
        "dave": make_user("dave", is_redmine_user=True),
    }
    roles = {r.name: r.id for r in db.session.scalars(select(Role))}
    p1 = Project(identifier="p-one", name="Project One")
    p2 = Project(identifier="p-two", name="Project Two")
    db.session.add_all([p1, p2, CustomField(name="Customer", max_length=20)])
    db.session.flush()
    for user, project, role in [
        ("alice", p1, "Developer"),
        ("alice", p2, "Developer"),
        ("bob", p2, "Developer"),
        ("carol", p1, "Reporter"),
    ]:
        db.session.add(Member(project_id=project.id, user_id=users[user].id, role_id=roles[role]))
    db.session.commit()
    statuses = {s.name: s.id for s in db.session.scalars(select(TaskStatus))}

    def restrict(role: str, old: str, new: list[str]) -> None:
        """Allow the role only the listed moves from `old` (a role with rules gets no others)."""
        for target in new:
            db.session.add(
                WorkflowTransition(
                    role_id=roles[role],
                    old_status_id=statuses[old],
                    new_status_id=statuses[target],
                )
            )
        db.session.commit()

    actors = {
        name: Actor(user_id=user.id, is_admin=user.is_admin, login=user.username)
        for name, user in users.items()
    }
    return World(
        backend=get_backend(),
        actors=actors,
        projects={"P1": p1.id, "P2": p2.id},
        statuses=statuses,
        restrict=restrict,
    )


WORLD_BUILDERS = {"local": local_world}
