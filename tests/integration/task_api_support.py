"""The task world shared by the task API, task page, API token and seed-client tests.

A small world of users, projects, memberships and tasks; task row snapshots read straight from
the database; and a recorder for TaskStatusChanged events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from helpdesk.core.events import subscribe
from helpdesk.extensions import db
from helpdesk.tasks.events import TaskStatusChanged
from helpdesk.tasks.models import (
    CustomField,
    CustomValue,
    Journal,
    JournalDetail,
    Member,
    Project,
    Task,
    Watcher,
    WorkflowTransition,
)
from helpdesk.users.models import User
from helpers import count_rows, fresh

# Default lookups created by the migrations.
NEW, IN_PROGRESS, RESOLVED, FEEDBACK, CLOSED, REJECTED = 1, 2, 3, 4, 5, 6
LOW, NORMAL, HIGH, URGENT, IMMEDIATE = 1, 2, 3, 4, 5
BUG, FEATURE, SUPPORT = 1, 2, 3
MANAGER, DEVELOPER, REPORTER = 1, 2, 3


@dataclass
class World:
    """Users, projects and tasks of one test, by short name."""

    users: dict[str, User] = field(default_factory=dict)
    projects: dict[str, int] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)

    def uid(self, name: str) -> int:
        """A user's id."""
        return self.users[name].id


def _add_task(
    project_id: int,
    subject: str,
    author: User,
    assignee: User | None,
    status_id: int,
    priority_id: int,
    updated: datetime,
    **extra: Any,
) -> int:
    task = Task(
        project_id=project_id,
        tracker_id=extra.pop("tracker_id", BUG),
        status_id=status_id,
        priority_id=priority_id,
        author_id=author.id,
        assigned_to_id=assignee.id if assignee else None,
        subject=subject,
        description=extra.pop("description", f"About: {subject}"),
        created_on=updated - timedelta(days=1),
        updated_on=updated,
        **extra,
    )
    db.session.add(task)
    db.session.flush()
    return task.id


def build_world(make_user: Callable[..., User]) -> World:
    """Three projects, five task users with roles, and tasks of every kind.

    - web (Web Portal): alice Developer, bob Developer, rita Reporter (with a workflow)
    - desk (Service Desk): alice Developer
    - infra (Infrastructure): bob Developer; alice is not a member but has a task there
    - carol: logged-in user without task access; admin: member of nothing
    """
    w = World()
    w.users["alice"] = make_user("alice", full_name="Alice Smith", is_redmine_user=True)
    w.users["bob"] = make_user("bob", full_name="Bob Jones", is_redmine_user=True)
    w.users["rita"] = make_user("rita", full_name="Rita Reporter", is_redmine_user=True)
    w.users["dave"] = make_user("dave", is_redmine_user=True)  # member of nothing, no full name
    w.users["carol"] = make_user("carol", full_name="Carol NoTasks")
    w.users["admin"] = make_user("admin", full_name="Ada Admin", is_admin=True)

    for key, identifier, name in (
        ("web", "web-portal", "Web Portal"),
        ("desk", "service-desk", "Service Desk"),
        ("infra", "infrastructure", "Infrastructure"),
    ):
        project = Project(identifier=identifier, name=name, description=f"{name} project")
        db.session.add(project)
        db.session.flush()
        w.projects[key] = project.id

    alice, bob, rita = w.users["alice"], w.users["bob"], w.users["rita"]
    for user, project, role in (
        (alice, "web", DEVELOPER),
        (bob, "web", DEVELOPER),
        (rita, "web", REPORTER),
        (alice, "desk", DEVELOPER),
        (bob, "infra", DEVELOPER),
    ):
        db.session.add(Member(project_id=w.projects[project], user_id=user.id, role_id=role))
    # The Reporter role may only move New -> In Progress and In Progress -> Resolved.
    db.session.add(
        WorkflowTransition(role_id=REPORTER, old_status_id=NEW, new_status_id=IN_PROGRESS)
    )
    db.session.add(
        WorkflowTransition(role_id=REPORTER, old_status_id=IN_PROGRESS, new_status_id=RESOLVED)
    )
    db.session.add(CustomField(name="Customer", max_length=20))

    base = datetime(2024, 1, 10, 10, 0, 0)
    web, desk, infra = w.projects["web"], w.projects["desk"], w.projects["infra"]
    w.tasks["login"] = _add_task(
        web,
        "Fix login issue",
        bob,
        alice,
        IN_PROGRESS,
        HIGH,
        base + timedelta(days=5),
        start_date=date(2024, 1, 15),
        due_date=date(2024, 1, 30),
        estimated_hours=8.0,
    )
    w.tasks["report"] = _add_task(
        web,
        "Export 50% report",
        alice,
        alice,
        NEW,
        LOW,
        base + timedelta(days=1),
        due_date=date(2024, 3, 1),
    )
    w.tasks["printer"] = _add_task(
        desk,
        "Closed printer ticket",
        alice,
        alice,
        CLOSED,
        NORMAL,
        base + timedelta(days=2),
        due_date=date(2024, 2, 1),
        closed_on=base + timedelta(days=2),
    )
    w.tasks["bobweb"] = _add_task(web, "Bob web task", alice, bob, NEW, URGENT, base)
    w.tasks["bobinfra"] = _add_task(infra, "Infra secret task", bob, bob, NEW, NORMAL, base)
    w.tasks["reset"] = _add_task(
        desk,
        "Reset_password flow",
        alice,
        alice,
        FEEDBACK,
        IMMEDIATE,
        base + timedelta(days=3),
        tracker_id=SUPPORT,
    )
    w.tasks["unassigned"] = _add_task(web, "Unassigned web task", bob, None, NEW, NORMAL, base)
    w.tasks["hidden"] = _add_task(
        infra, "Hidden infra task for alice", bob, alice, NEW, HIGH, base + timedelta(days=4)
    )
    w.tasks["vpn"] = _add_task(
        desk,
        "VPN drops every hour",
        bob,
        alice,
        IN_PROGRESS,
        NORMAL,
        base + timedelta(days=6),
        due_date=date(2024, 1, 20),
    )
    db.session.commit()
    return w


# -- reading the database as committed -------------------------------------------------------


def task_row(task_id: int) -> dict[str, Any] | None:
    """A task's row as committed, or None."""
    fresh()
    row = db.session.execute(select(Task.__table__).where(Task.id == task_id)).mappings().first()
    found = dict(row) if row else None
    db.session.rollback()  # hold no transaction: on SQLite an app server in a thread writes
    return found


def journals_of(task_id: int) -> list[dict[str, Any]]:
    """A task's journals with their details, oldest first."""
    fresh()
    out = []
    for journal in db.session.scalars(
        select(Journal).where(Journal.task_id == task_id).order_by(Journal.id)
    ):
        out.append(
            {
                "id": journal.id,
                "user_id": journal.user_id,
                "notes": journal.notes,
                "details": [(d.prop_key, d.old_value, d.new_value) for d in journal.details],
            }
        )
    db.session.rollback()  # hold no transaction: on SQLite an app server in a thread writes
    return out


def counts() -> dict[str, int]:
    """Row counts of every table a task write touches."""
    return {
        model.__tablename__: count_rows(model)
        for model in (Task, Journal, JournalDetail, CustomValue, Watcher)
    }


def snapshot() -> dict[str, Any]:
    """Everything a refused write must leave alone: all task rows and the row counts."""
    fresh()
    tasks = [
        dict(r) for r in db.session.execute(select(Task.__table__).order_by(Task.id)).mappings()
    ]
    return {"tasks": tasks, "counts": counts()}


# -- events ----------------------------------------------------------------------------------


def record_status_events(app: Flask) -> list[TaskStatusChanged]:
    """A list that receives every TaskStatusChanged delivered from now on, in order."""
    received: list[TaskStatusChanged] = []
    subscribe(app, TaskStatusChanged, received.append)
    return received


def as_user(app: Any, login: Any, user: User) -> Any:
    """A separate test client signed in as user."""
    other = app.test_client()
    login(user, the_client=other)
    return other


def assert_error(response: Any, status: int) -> dict[str, Any]:
    """A JSON error answer: the status code, success false, and a message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert body["success"] is False
    assert body["message"]
    return body
