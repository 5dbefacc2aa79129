"""The seed document's HelpDeskClient, unchanged, against a real HTTP server running the app.

The class below is copied from the seed's "Complete Task Management Workflow" example: it is the
contract with existing clients (a requests.Session with a cookie, form login, JSON task calls).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
import requests
from sqlalchemy import select
from task_api_support import (
    IN_PROGRESS,
    NORMAL,
    RESOLVED,
    World,
    build_world,
    journals_of,
    record_status_events,
    task_row,
)
from werkzeug.serving import make_server

from conftest import PASSWORD
from helpdesk.extensions import db
from helpdesk.tasks.models import Task, Watcher
from helpers import fresh


class HelpDeskClient:
    """Client wrapper for Helpdesk API"""

    def __init__(self, base_url, session_cookie):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.cookies.set("session", session_cookie)

    def login(self, username, password):
        """Authenticate with the system"""
        response = self.session.post(
            f"{self.base_url}/users/login", data={"username": username, "password": password}
        )
        return response.status_code == 200

    def get_my_tasks(self, status_filter=None, limit=25):
        """Get current user's tasks"""
        params = {"limit": limit}
        if status_filter:
            params["status"] = status_filter

        response = self.session.get(
            f"{self.base_url}/tasks/my-tasks", params=params, headers={"Accept": "application/json"}
        )
        return response.json() if response.status_code == 200 else None

    def update_task_status(self, task_id, status_id, comment=None):
        """Update task status"""
        data = {"status_id": status_id}
        if comment:
            data["comment"] = comment

        response = self.session.put(
            f"{self.base_url}/tasks/api/task/{task_id}/status",
            data=json.dumps(data),
            headers={"Content-Type": "application/json"},
        )
        return response.json() if response.status_code == 200 else None

    def create_task(self, project_id, subject, description, **kwargs):
        """Create new task"""
        task_data = {
            "project_id": project_id,
            "subject": subject,
            "description": description,
            **kwargs,
        }

        response = self.session.post(
            f"{self.base_url}/tasks/api/task",
            data=json.dumps(task_data),
            headers={"Content-Type": "application/json"},
        )
        return response.json() if response.status_code == 201 else None

    def get_notifications(self, unread_only=True):
        """Get user notifications"""
        params = {"unread_only": unread_only}
        response = self.session.get(f"{self.base_url}/tasks/api/notifications", params=params)
        return response.json() if response.status_code == 200 else None


@pytest.fixture
def world(make_user) -> World:
    """Projects, members, a workflow and tasks (see task_api_support.build_world)."""
    return build_world(make_user)


@pytest.fixture
def server(app, world) -> Iterator[str]:
    """The app on a real HTTP server on 127.0.0.1 (a free port), in a background thread."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="seed-client-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()
        db.session.rollback()


@pytest.fixture
def seed_client(server) -> Iterator[HelpDeskClient]:
    """The seed's client, built exactly as its usage example does (placeholder cookie included).

    The placeholder `session` cookie has no domain, so requests sends it ahead of the server's
    real session cookie on every call; the server must pick the session it knows.
    """
    client = HelpDeskClient(server, "your_session_cookie")
    yield client
    client.session.close()


def run_seed_example(client: HelpDeskClient, project_id: int) -> dict:
    """The seed's usage example from top to bottom, with its own checks turned into asserts."""
    assert client.login("alice", PASSWORD)
    tasks = client.get_my_tasks(status_filter="In Progress")
    assert tasks is not None, "get_my_tasks answered None: the client is not signed in"
    assert len(tasks["tasks"]) == 2
    task = tasks["tasks"][0]
    result = client.update_task_status(
        task_id=task["id"], status_id=3, comment="Task completed and tested"
    )
    assert result["success"]
    new_task = client.create_task(
        project_id=project_id,
        subject="Implement new feature",
        description="Add user preferences management",
        priority_id=2,
        due_date=(datetime.now() + timedelta(days=7)).strftime("%Y-%m-%d"),
    )
    assert new_task["success"]
    return {"updated": task["id"], "created": new_task["data"]["task_id"]}


def test_login_with_the_right_password_only(seed_client, server):
    other = HelpDeskClient(server, "your_session_cookie")
    try:
        assert other.login("alice", "wrong password") is False
        assert other.get_my_tasks() is None  # still anonymous
    finally:
        other.session.close()
    assert seed_client.login("alice", PASSWORD) is True


def test_get_my_tasks_in_progress(seed_client, world: World):
    assert seed_client.login("alice", PASSWORD)
    tasks = seed_client.get_my_tasks(status_filter="In Progress")
    assert tasks is not None
    # "Found N active tasks": the seed reads len(tasks['tasks']).
    assert [t["subject"] for t in tasks["tasks"]] == ["Fix login issue", "VPN drops every hour"]
    for task in tasks["tasks"]:
        assert task["status"] == "In Progress"
        assert task["assigned_to"] == "Alice Smith"
        assert set(task) >= {"id", "subject", "status", "priority", "project", "due_date"}
    assert tasks["pagination"] == {"page": 1, "per_page": 25, "total": 2, "pages": 1}
    assert tasks["filters"]["status"] == "In Progress"
    assert tasks["filters"]["priority"] is None
    assert tasks["filters"]["project"] is None


def test_get_my_tasks_honours_limit(seed_client):
    assert seed_client.login("alice", PASSWORD)
    tasks = seed_client.get_my_tasks(limit=2)
    assert tasks is not None
    assert len(tasks["tasks"]) == 2
    assert tasks["pagination"]["per_page"] == 2
    assert tasks["pagination"]["total"] == 4
    assert seed_client.get_my_tasks(limit=0) is None  # 400: the seed's client answers None


def test_get_my_tasks_without_login_is_none(seed_client):
    assert seed_client.get_my_tasks() is None


def test_update_task_status_resolves_the_first_task(app, seed_client, world: World):
    events = record_status_events(app)
    assert seed_client.login("alice", PASSWORD)
    tasks = seed_client.get_my_tasks(status_filter="In Progress")
    task = tasks["tasks"][0]
    result = seed_client.update_task_status(
        task_id=task["id"], status_id=3, comment="Task completed and tested"
    )
    assert result is not None
    assert result["success"] is True
    assert result["data"]["task_id"] == task["id"]
    assert result["data"]["old_status"] == "In Progress"
    assert result["data"]["new_status"] == "Resolved"
    assert result["data"]["comment_added"] is True
    assert isinstance(result["data"]["notifications_sent"], int)
    assert isinstance(result["execution_time"], int | float)

    assert task_row(task["id"])["status_id"] == RESOLVED
    journal = journals_of(task["id"])[-1]
    assert journal["notes"] == "Task completed and tested"
    assert journal["details"] == [("status_id", str(IN_PROGRESS), str(RESOLVED))]
    assert [(e.task.id, e.new_status.id) for e in events] == [(task["id"], RESOLVED)]
    # The task has left the "In Progress" list.
    remaining = seed_client.get_my_tasks(status_filter="In Progress")
    assert task["id"] not in [t["id"] for t in remaining["tasks"]]


def test_update_task_status_refused_is_none_and_changes_nothing(seed_client, world: World):
    assert seed_client.login("rita", PASSWORD)
    task_id = world.tasks["unassigned"]
    before = task_row(task_id)
    assert seed_client.update_task_status(task_id, 5, "not allowed for a reporter") is None
    assert task_row(task_id) == before
    assert journals_of(task_id) == []


def test_create_task_as_in_the_seed_example(seed_client, world: World):
    assert seed_client.login("alice", PASSWORD)
    due = (datetime.now() + timedelta(days=7)).strftime("%Y-%m-%d")
    new_task = seed_client.create_task(
        project_id=world.projects["web"],
        subject="Implement new feature",
        description="Add user preferences management",
        priority_id=2,
        due_date=due,
    )
    assert new_task is not None
    assert new_task["success"] is True
    data = new_task["data"]
    task_id = data["task_id"]
    assert data["subject"] == "Implement new feature"
    assert data["status"] == "New"
    assert data["project"] == "Web Portal"
    assert data["assigned_to"] is None
    assert data["created_on"].endswith("Z")

    row = task_row(task_id)
    assert row["subject"] == "Implement new feature"
    assert row["description"] == "Add user preferences management"
    assert row["priority_id"] == NORMAL
    assert row["due_date"] == date.fromisoformat(due)
    assert row["author_id"] == world.uid("alice")
    fresh()
    assert db.session.get(Watcher, (task_id, world.uid("alice"))) is not None


def test_create_task_refused_is_none_and_creates_nothing(seed_client, world: World):
    assert seed_client.login("alice", PASSWORD)
    fresh()
    before = db.session.scalars(select(Task.id)).all()
    fresh()  # the server, a thread of this process, may need the writer this read took
    assert seed_client.create_task(world.projects["infra"], "Not my project", "x") is None
    assert seed_client.create_task(world.projects["web"], "", "blank subject") is None
    fresh()
    assert db.session.scalars(select(Task.id)).all() == before


def test_the_whole_seed_workflow_in_one_session(seed_client, world: World):
    done = run_seed_example(seed_client, world.projects["desk"])
    assert task_row(done["updated"])["status_id"] == RESOLVED
    assert task_row(done["created"])["project_id"] == world.projects["desk"]
    everything = seed_client.get_my_tasks()
    assert done["updated"] in [t["id"] for t in everything["tasks"]]  # Resolved is still open


def test_seed_client_without_any_cookie(server, world: World):
    """A script that has no cookie at all (`cookies.set("session", None)` sets none)."""
    client = HelpDeskClient(server, None)
    try:
        done = run_seed_example(client, world.projects["web"])
    finally:
        client.session.close()
    assert task_row(done["updated"])["status_id"] == RESOLVED


def test_seed_client_with_an_existing_session_cookie(server, world: World):
    """The seed's API examples pass a browser's session cookie instead of logging in."""
    browser = requests.Session()
    try:
        response = browser.post(
            f"{server}/users/login",
            data={"username": "alice", "password": PASSWORD},
            allow_redirects=False,
        )
        assert response.status_code == 302
        cookie = browser.cookies.get("session")
        assert cookie
    finally:
        browser.close()
    client = HelpDeskClient(server, cookie)
    try:
        tasks = client.get_my_tasks(status_filter="In Progress")
        assert tasks is not None
        assert len(tasks["tasks"]) == 2
        result = client.update_task_status(world.tasks["login"], 3, "via a copied cookie")
        assert result["data"]["new_status"] == "Resolved"
    finally:
        client.session.close()
    assert task_row(world.tasks["login"])["status_id"] == RESOLVED
