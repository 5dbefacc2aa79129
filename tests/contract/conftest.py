"""A world of users, projects and memberships, built for each task backend under contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from contract_world import World
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import Actor
from helpdesk.tasks.models import Member, Project, Role, TaskStatus, WorkflowTransition


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
    db.session.add_all([p1, p2])
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


@pytest.fixture(params=sorted(WORLD_BUILDERS))
def world(request: pytest.FixtureRequest, app: Any, make_user: Callable[..., Any]) -> World:
    """The same world in each backend; the contract tests must pass on all of them."""
    app.config["TASK_BACKEND"] = request.param
    return WORLD_BUILDERS[request.param](make_user)
