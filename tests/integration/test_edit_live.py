"""Edits reach open pages live (ids only) and, made by another tool, come through the change feed
with the notifications an edit made here sends."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select, update
from task_api_support import URGENT, World
from test_change_feed import heard, listeners, rows_by_event, run_feed, world  # noqa: F401
from test_realtime import received

from helpdesk.extensions import db
from helpdesk.notifications.models import Notifications
from helpdesk.tasks.models import Journal, JournalDetail, Task
from helpers import fresh


def test_an_edit_tells_open_pages_by_ids_only_and_the_feed_adds_nothing(
    app: Flask,
    client: FlaskClient,
    login: Any,
    world: World,  # noqa: F811
) -> None:
    pages = listeners(app, login, world)  # bob (the task's author) and rita's board of web
    login(world.users["alice"])
    task_id = world.tasks["login"]
    response = client.patch(f"/tasks/api/task/{task_id}", json={"priority_id": URGENT})
    assert response.status_code == 200, response.get_data(as_text=True)
    journal_id = response.get_json()["data"]["journal_id"]
    bob = received(pages["bob"])
    assert [m["type"] for m in bob["new_notification"]] == ["task_updated"]
    assert bob["task_changed"] == [{"task_id": task_id, "journal_id": journal_id}]
    board = received(pages["board"])
    assert board == {"task_changed": [{"task_id": task_id, "journal_id": journal_id}]}
    rows = rows_by_event()
    assert run_feed(app) == "ran"
    assert heard(pages["bob"]) == heard(pages["board"]) == {}
    assert rows_by_event() == rows


def test_an_edit_made_by_another_tool_is_announced_by_the_feed(
    app: Flask,
    login: Any,
    world: World,  # noqa: F811
) -> None:
    pages = listeners(app, login, world)
    task_id = world.tasks["login"]  # author bob, assignee alice
    fresh()
    journal_id = db.session.scalar(
        insert(Journal).values(task_id=task_id, user_id=world.uid("alice")).returning(Journal.id)
    )
    old = db.session.scalar(select(Task.priority_id).where(Task.id == task_id))
    db.session.execute(update(Task).where(Task.id == task_id).values(priority_id=URGENT))
    db.session.execute(
        insert(JournalDetail).values(
            journal_id=journal_id, prop_key="priority_id", old_value=str(old), new_value=str(URGENT)
        )
    )
    db.session.commit()
    assert run_feed(app) == "ran"
    assert heard(pages["bob"]) == {"new_notification": 1, "task_changed": 1}
    assert heard(pages["board"]) == {"task_changed": 1}
    fresh()
    told = db.session.execute(select(Notifications.user_id, Notifications.type)).all()
    db.session.rollback()
    assert [tuple(row) for row in told] == [(world.uid("bob"), "task_updated")]
