"""REDMINE_READS=database against a real Redmine: the app reads from Redmine's tables, writes
through its REST API as the user, and a person's next read shows their change at once."""

from __future__ import annotations

import pytest
from flask import Flask

from contract_world import World, redmine_world
from helpdesk.extensions import db
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.redmine_reads import RedmineDatabaseReads
from helpdesk.users.models import User

pytestmark = pytest.mark.redmine


@pytest.fixture
def world(app: Flask, make_user, request: pytest.FixtureRequest) -> World:
    """The contract suite's world in the session's Redmine, read from its database."""
    return redmine_world(make_user, request, reads="database")


def user(name: str) -> User:
    """A helpdesk user of the world by username."""
    return db.session.query(User).filter_by(username=name).one()


def test_the_next_read_shows_a_change_made_through_rest(client, login, world: World) -> None:
    assert isinstance(get_backend(), RedmineDatabaseReads)
    task = world.create("alice", "P1", "Read your writes")
    login(user("carol"))
    listed = client.get("/tasks/api/tasks?status=open&per_page=100").get_json()["data"]["tasks"]
    assert task.id in [row["id"] for row in listed]
    closed = world.statuses["Closed"]
    changed = client.put(
        f"/tasks/api/task/{task.id}/status", json={"status_id": closed, "comment": "Done"}
    )
    assert changed.status_code == 200, changed.get_json()
    shown = client.get(f"/tasks/api/task/{task.id}").get_json()["data"]
    assert (shown["status_id"], shown["is_closed"]) == (closed, True)
    open_now = client.get("/tasks/api/tasks?status=open&per_page=100").get_json()["data"]
    closed_now = client.get("/tasks/api/tasks?status=closed&per_page=100").get_json()["data"]
    assert task.id not in [row["id"] for row in open_now["tasks"]]
    assert task.id in [row["id"] for row in closed_now["tasks"]]
    comment = client.post(f"/tasks/api/task/{task.id}/comments", json={"notes": "Checked again"})
    assert comment.status_code == 201, comment.get_json()
    history = client.get(f"/tasks/api/task/{task.id}/journals").get_json()["data"]
    assert [entry["notes"] for entry in history] == ["Done", "Checked again"]


def test_hidden_and_missing_tasks_are_the_same_404(client, login, world: World) -> None:
    task = world.create("alice", "P1", "Members only")
    login(user("dave"))
    hidden = client.get(f"/tasks/api/task/{task.id}")
    missing = client.get("/tasks/api/task/987654")
    assert hidden.status_code == missing.status_code == 404
    assert client.get(f"/tasks/api/task/{task.id}/journals").status_code == 404


def test_a_move_without_a_comment_is_one_rest_call_confirmed_from_the_database(
    world: World,
) -> None:
    backend = get_backend()
    task = world.create("alice", "P1", "Move me")
    alice = world.actors["alice"]
    world.backend.change_status(alice, task.id, world.statuses["In Progress"], None)  # warm
    db.session.commit()
    calls: list[str] = []

    def note(response, *_args, **_kwargs):
        calls.append(f"{response.request.method} {response.request.path_url}")
        return response

    client = backend.client  # type: ignore[attr-defined]
    for session in (client.reads, client.writes):
        session.hooks["response"].append(note)
    try:
        moved = backend.change_status(alice, task.id, world.statuses["Feedback"], None)
    finally:
        for session in (client.reads, client.writes):
            session.hooks["response"].remove(note)
    db.session.commit()
    assert calls == [f"PUT /issues/{task.id}.json"]
    assert (moved.old_status.name, moved.new_status.name, moved.changed) == (
        "In Progress",
        "Feedback",
        True,
    )
    history = backend.journals(world.actors["carol"], task.id)
    assert moved.journal_id == history[-1].id == moved.task.lock_version
    assert [(d.old_value, d.new_value) for d in history[-1].details] == [
        (str(world.statuses["In Progress"]), str(world.statuses["Feedback"]))
    ]
