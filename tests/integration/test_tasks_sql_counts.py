"""How many SQL statements the busiest task requests run: a fixed number, whatever the page holds.

A request that grows a statement per row (an N+1) passes every other test and only shows under
load, so the counts are pinned here. The signed-in user comes from their snapshot in the cache
(users/snapshot.py), read once after signing in. Transaction control (SQLite's BEGIN) is not
counted, nor the first request's reads of what is kept between requests: the statuses, priorities
and trackers, and the signed-in user.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event
from task_api_support import HIGH, NEW, World, _add_task, build_world

from helpdesk.extensions import db
from helpdesk.tasks.backends.lookups import invalidate_lookups
from helpdesk.tasks.models import CustomField, CustomValue, TaskStatus, Watcher
from helpers import JSON


@pytest.fixture
def world(make_user) -> World:
    """Projects, members and tasks (see task_api_support.build_world)."""
    return build_world(make_user)


USER = 0  # the signed-in user's snapshot is cached: no read of the user table


def seen_text(seen: list[str]) -> str:
    """The statements as one line of text, to look for what they write."""
    return " ".join(" ".join(statement.split()) for statement in seen)


@contextmanager
def statements() -> Iterator[list[str]]:
    """The statements run inside the block, without BEGIN."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def add_open_tasks(world: World, count: int) -> None:
    """More open tasks for alice in a project she belongs to, so pages fill up."""
    alice = world.users["alice"]
    for number in range(count):
        _add_task(
            world.projects["web"], f"Extra {number}", alice, alice, NEW, HIGH, datetime(2024, 2, 1)
        )
    db.session.commit()


@pytest.mark.parametrize("per_page", [5, 25, 100])
def test_my_tasks_runs_the_page_and_the_count(client, login, world: World, per_page):
    add_open_tasks(world, 120)
    login(world.users["alice"])
    client.get("/tasks/my-tasks", headers=JSON)  # fills the lookup cache
    with statements() as seen:
        response = client.get(f"/tasks/my-tasks?per_page={per_page}", headers=JSON)
    assert response.status_code == 200
    assert len(response.get_json()["tasks"]) == per_page
    assert len(seen) == USER + 2, seen


def test_my_tasks_last_page_needs_no_count(client, login, world: World):
    login(world.users["alice"])
    client.get("/tasks/my-tasks", headers=JSON)  # fills the lookup cache
    with statements() as seen:
        response = client.get("/tasks/my-tasks", headers=JSON)
    document = response.get_json()
    assert document["pagination"]["total"] == len(document["tasks"]) > 0
    assert len(seen) == USER + 1, seen


@pytest.mark.parametrize("extras", [0, 4])
def test_task_by_id_runs_one_statement_whatever_it_holds(client, login, world: World, extras):
    task_id = world.tasks["login"]
    for number in range(extras):
        field = CustomField(name=f"Field {number}")
        db.session.add(field)
        db.session.flush()
        db.session.add(CustomValue(task_id=task_id, custom_field_id=field.id, value="x"))
    for name in ("bob", "rita", "dave")[: extras and 3]:
        db.session.add(Watcher(task_id=task_id, user_id=world.uid(name)))
    db.session.commit()
    login(world.users["alice"])
    client.get(f"/tasks/api/task/{task_id}")  # fills the lookup cache
    with statements() as seen:
        response = client.get(f"/tasks/api/task/{task_id}")
    data = response.get_json()["data"]
    assert [field["name"] for field in data["custom_fields"]] == [
        f"Field {number}" for number in range(extras)
    ]
    assert data["watcher_ids"] == sorted(
        world.uid(n) for n in ("bob", "rita", "dave")[: extras and 3]
    )
    assert len(seen) == USER + 1, seen


def test_cached_lookups_change_when_the_writer_invalidates_them(client, login, world: World):
    login(world.users["alice"])
    assert client.get("/tasks/api/statuses").get_json()["data"][0]["name"] == "New"
    with statements() as seen:
        client.get("/tasks/api/statuses")
    assert len(seen) == USER, seen  # the statuses come from the cache
    status = db.session.get(TaskStatus, NEW)
    assert status is not None
    status.name = "Fresh"
    db.session.commit()
    assert client.get("/tasks/api/statuses").get_json()["data"][0]["name"] == "New"
    invalidate_lookups()
    assert client.get("/tasks/api/statuses").get_json()["data"][0]["name"] == "Fresh"
    task = client.get(f"/tasks/api/task/{world.tasks['report']}").get_json()["data"]
    assert task["status_name"] == "Fresh"


def test_a_status_change_writes_three_rows_and_never_reads_its_notifications_back(
    client, login, world: World
):
    """Read the task with its extras and its workflow rules; write it (the ORM's versioned
    UPDATE), its journal and the journal's detail; claim the journal's announcement (so the
    change feed does not announce it again); record the notification (which recipients may
    see the task, their languages, the insert); deliver it (unread counts with push subscribers;
    boards hear it through their project's room, read nothing). The rows it inserted are not
    read back."""
    login(world.users["alice"])
    client.get("/tasks/api/statuses")  # fills the lookup cache
    task_id = world.tasks["login"]
    with statements() as seen:
        response = client.put(
            f"/tasks/api/task/{task_id}/status", json={"status_id": NEW}, headers=JSON
        )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["data"]["notifications_sent"] == 1
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    writes = [" ".join(s.split()[:3]).upper() for s in seen if s not in reads]
    assert writes == [
        "UPDATE TASKS SET",
        "INSERT INTO JOURNALS",
        "INSERT INTO JOURNAL_DETAILS",
        "INSERT INTO PUBLISHED_EVENTS",
        "INSERT INTO NOTIFICATIONS",
    ], seen
    update = next(s for s in seen if s.lstrip().upper().startswith("UPDATE"))
    assert "tasks.lock_version =" in " ".join(update.split()), update  # the optimistic lock
    assert not [s for s in reads if "event_key" in s], seen
    assert len(reads) == USER + 4, reads
