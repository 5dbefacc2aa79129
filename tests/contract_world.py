"""The world the task backend contract tests act in, built once per backend."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import current_app
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.integrations.redmine.answers import ProjectAnswer, UserAnswer
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import Actor, NewTask, TaskBackend, TaskInfo
from helpdesk.tasks.backends.redmine import RedmineBackend
from helpdesk.tasks.models import (
    Attachment,
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
    unattached_files: Callable[[], int]  # files the store keeps that belong to no task
    tasks: dict[str, TaskInfo] = field(default_factory=dict)

    def create(self, who: str, project: str, subject: str, **fields: Any) -> TaskInfo:
        """Create a task through the backend under test."""
        task = self.backend.create_task(
            self.actors[who], NewTask(project_id=self.projects[project], subject=subject, **fields)
        )
        db.session.commit()
        return task


def local_world(make_user: Callable[..., Any], request: pytest.FixtureRequest) -> World:
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

    def unattached_files() -> int:
        """Files in the attachments folder that no attachment row names."""
        folder = Path(current_app.config["UPLOAD_FOLDER"]) / "attachments"
        kept = set(db.session.scalars(select(Attachment.stored_name)))
        on_disk = {path.name for path in folder.glob("*")} if folder.exists() else set()
        return len(on_disk - kept)

    return World(
        backend=get_backend(),
        actors=actors,
        projects={"P1": p1.id, "P2": p2.id},
        statuses=statuses,
        restrict=restrict,
        unattached_files=unattached_files,
    )


REDMINE_ROLES = {"Developer": 4, "Reporter": 5}  # Redmine's default data
EVERY_MOVE = """INSERT INTO workflows (tracker_id, old_status_id, new_status_id, role_id, assignee,
    author, type) SELECT t.id, o.id, n.id, r.id, 0, 0, 'WorkflowTransition'
    FROM trackers t, issue_statuses o, issue_statuses n, roles r
    WHERE o.id <> n.id AND r.id IN (4, 5)"""
ONCE = """Role.find(5).add_permission!(:edit_issues)
IssueCustomField.find_or_create_by!(name: "Customer") do |field|
  field.field_format = "string"; field.max_length = 20; field.is_for_all = false
  field.tracker_ids = Tracker.pluck(:id)
end"""  # reporters may edit tasks (change their status), as in the local store; REST names a
# project's custom fields only when they are enabled on it (not "for all projects")
worlds = itertools.count(1)


def use_redmine(server: Any, reads: str = "rest") -> RedmineBackend:
    """Make the test's app serve tasks from the session's Redmine, reading through its REST API
    or from its database (REDMINE_READS)."""
    current_app.config.update(
        TASK_BACKEND="redmine",
        REDMINE_URL=server.url,
        REDMINE_API_KEY=server.api_key,
        REDMINE_READS=reads,
        REDMINE_DB_URL=server.db_url if reads == "database" else "",
    )
    backend = RedmineBackend.from_app(current_app._get_current_object())  # type: ignore[attr-defined]
    current_app.extensions["task_backend"] = backend
    return backend


def redmine_world(
    make_user: Callable[..., Any], request: pytest.FixtureRequest, reads: str = "rest"
) -> World:
    """The same world in the session's Redmine, made through its REST API; what REST cannot make
    (workflows, a role that takes no tasks, a custom field) by SQL or rails runner. Every world
    starts clean: the projects of earlier tests are archived (hidden from everyone, even admins)
    and both roles may make every move, as roles without rules may in the local store."""
    server = request.getfixturevalue("redmine_server")
    if not server.sql("SELECT id FROM custom_fields WHERE name = 'Customer'"):
        server.rails(ONCE)
    [(customer,)] = server.sql("SELECT id FROM custom_fields WHERE name = 'Customer'")
    server.sql("UPDATE projects SET status = 9, identifier = CONCAT('gone-', id)")
    server.sql("DELETE FROM workflows WHERE role_id IN (4, 5) AND type = 'WorkflowTransition'")
    server.sql(EVERY_MOVE)
    server.sql("UPDATE roles SET assignable = (id <> 5) WHERE id IN (4, 5)")
    backend = use_redmine(server, reads)
    client = backend.client
    tag = f"{os.getpid()}_{next(worlds)}"
    people = {
        "admin": ("Site", "Admin", {"is_admin": True}),
        "alice": ("Alice", "Ivanova", {"full_name": "Alice Ivanova"}),
        "bob": ("Bob", "Petrov", {"full_name": "Bob Petrov"}),
        "carol": ("Carol", "Smirnova", {}),
        "dave": ("Dave", "Kuznetsov", {}),
    }
    users, redmine_ids = {}, {}
    for name, (first, last, fields) in people.items():
        login = f"{name}_{tag}"
        created = client.post(
            "/users.json",
            {
                "user": {
                    "login": login,
                    "firstname": first,
                    "lastname": last,
                    "mail": f"{login}@example.com",
                    "password": "redmine-password-1",
                    "admin": name == "admin",
                }
            },
            shape=UserAnswer,
        )
        redmine_ids[name] = created["user"]["id"]
        user = make_user(name, is_redmine_user=True, **fields)
        user.redmine_username = login
        users[name] = user
    db.session.commit()
    projects = {}
    for key, identifier, title in [("P1", "p-one", "Project One"), ("P2", "p-two", "Project Two")]:
        body = {
            "name": title,
            "identifier": identifier,
            "is_public": False,
            "tracker_ids": [1, 2, 3],
            "issue_custom_field_ids": [customer],
        }
        projects[key] = client.post("/projects.json", {"project": body}, shape=ProjectAnswer)[
            "project"
        ]["id"]
    for name, project, role in [
        ("alice", "P1", "Developer"),
        ("alice", "P2", "Developer"),
        ("bob", "P2", "Developer"),
        ("carol", "P1", "Reporter"),
    ]:
        client.post(
            f"/projects/{projects[project]}/memberships.json",
            {"membership": {"user_id": redmine_ids[name], "role_ids": [REDMINE_ROLES[role]]}},
        )
    statuses = {s.name: s.id for s in backend.statuses()}

    def restrict(role: str, old: str, new: list[str]) -> None:
        """Allow the role only the listed moves from `old`, on every tracker."""
        role_id, old_id = REDMINE_ROLES[role], statuses[old]
        server.sql(
            "DELETE FROM workflows WHERE role_id = :role AND old_status_id = :old",
            role=role_id,
            old=old_id,
        )
        for target in new:
            server.sql(
                """INSERT INTO workflows (tracker_id, old_status_id, new_status_id, role_id,
                assignee, author, type) SELECT id, :old, :new, :role, 0, 0, 'WorkflowTransition'
                FROM trackers""",
                role=role_id,
                old=old_id,
                new=statuses[target],
            )

    actors = {
        name: Actor(user_id=user.id, is_admin=user.is_admin, login=user.redmine_username)
        for name, user in users.items()
    }

    def unattached_files() -> int:
        """Uploads of this world's people that no issue took."""
        [(count,)] = server.sql(
            """SELECT COUNT(*) FROM attachments WHERE container_id IS NULL
            AND author_id BETWEEN :first AND :last""",
            first=min(redmine_ids.values()),
            last=max(redmine_ids.values()),
        )  # the world's people were made one after another
        return int(count)

    return World(
        backend=backend,
        actors=actors,
        projects=projects,
        statuses=statuses,
        restrict=restrict,
        unattached_files=unattached_files,
    )


def redmine_database_world(make_user: Callable[..., Any], request: pytest.FixtureRequest) -> World:
    """The Redmine world with REDMINE_READS=database: reads from Redmine's tables, writes
    through its REST API."""
    return redmine_world(make_user, request, reads="database")


WORLD_BUILDERS = {
    "local": local_world,
    "redmine": redmine_world,
    "redmine_database": redmine_database_world,
}
