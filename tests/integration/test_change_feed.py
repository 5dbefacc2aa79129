"""The change feed job: changes in the backend's history are announced once, on every channel,
whether they were made here (announced already) or by another tool (announced by the feed)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select, update
from task_api_support import IN_PROGRESS, NEW, RESOLVED, World, build_world
from test_realtime import board_socket, received, socket_for

from helpdesk import create_app
from helpdesk.core.events import record
from helpdesk.core.models import SiteSetting
from helpdesk.extensions import db
from helpdesk.notifications.models import MailOutbox, Notifications
from helpdesk.tasks.events import TaskStatusChanged
from helpdesk.tasks.feed import cursor_key
from helpdesk.tasks.models import Journal, JournalDetail, Task
from helpdesk.worker import JOBS, run_job
from helpers import fresh

FEED = next(job for job in JOBS if job.name == "follow_changes")


@pytest.fixture
def world(app: Flask, make_user: Any) -> World:
    """Projects, members and tasks; e-mail on (queued in the outbox, never sent here); the
    feed started, so it announces what comes after."""
    app.config["MAIL_SERVER"] = "smtp.invalid"
    built = build_world(make_user)
    assert run_feed(app) == "ran"
    return built


def rows_by_event() -> dict[str, list[int]]:
    """Committed notifications: the recipients of each event key."""
    fresh()
    rows = db.session.execute(
        select(Notifications.event_key, Notifications.user_id).order_by(Notifications.id)
    )
    by_event: dict[str, list[int]] = {}
    for key, user_id in rows:
        by_event.setdefault(key, []).append(user_id)
    db.session.rollback()  # hold no transaction: on SQLite the job's own session writes next
    return by_event


def outbox_size() -> int:
    """Committed e-mails waiting in the outbox."""
    fresh()
    size = db.session.scalar(select(func.count()).select_from(MailOutbox)) or 0
    db.session.rollback()  # hold no transaction: on SQLite the job's own session writes next
    return size


def run_feed(app: Flask) -> str:
    """Run the feed job as the worker does, the test's own transaction ended first: on SQLite a
    job's session would otherwise wait for the test's, in the same thread."""
    db.session.rollback()
    return run_job(app, FEED)


def heard(sock: Any) -> dict[str, int]:
    """How many of each event a socket received since the last call."""
    return {name: len(payloads) for name, payloads in received(sock).items()}


def write_journal(task_id: int, user_id: int, notes: str = "", status: int | None = None) -> int:
    """Change a task as another tool would, in the tables, without the helpdesk's service."""
    fresh()
    journal_id = db.session.scalar(
        insert(Journal).values(task_id=task_id, user_id=user_id, notes=notes).returning(Journal.id)
    )
    if status is not None:
        old = db.session.scalar(select(Task.status_id).where(Task.id == task_id))
        db.session.execute(update(Task).where(Task.id == task_id).values(status_id=status))
        db.session.execute(
            insert(JournalDetail).values(
                journal_id=journal_id,
                prop_key="status_id",
                old_value=str(old),
                new_value=str(status),
            )
        )
    db.session.commit()
    assert journal_id is not None
    return journal_id


def listeners(app: Flask, login: Any, world: World) -> dict[str, Any]:
    """Open pages: bob's (the task's author, told of its changes) and rita's board of the web
    project (a member, none of the task's people)."""
    bob_http = app.test_client()
    login(world.users["bob"], the_client=bob_http)
    bob = socket_for(app, bob_http)
    board, answers = board_socket(app, login, world.users["rita"], world.projects["web"])
    assert answers[0]["status"] == "success"
    heard(bob)
    return {"bob": bob, "board": board}


def test_a_change_made_here_is_not_announced_again_by_the_feed(
    app: Flask, client: FlaskClient, login: Any, world: World
) -> None:
    """alice moves a task through the API: each channel carries it once; the feed, meeting
    its journal, sends nothing more on any of them."""
    pages = listeners(app, login, world)
    login(world.users["alice"])
    task_id = world.tasks["login"]  # web: author bob, assignee alice
    response = client.put(
        f"/tasks/api/task/{task_id}/status", json={"status_id": RESOLVED, "comment": "Done"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert heard(pages["bob"]) == {"new_notification": 1, "task_status_changed": 1}
    assert heard(pages["board"]) == {"task_status_changed": 1}
    rows, mails = rows_by_event(), outbox_size()
    (key,) = rows
    assert world.uid("bob") in rows[key]
    assert mails == len(rows[key])

    assert run_feed(app) == "ran"
    assert heard(pages["bob"]) == heard(pages["board"]) == {}
    assert rows_by_event() == rows
    assert outbox_size() == mails


def test_a_change_made_here_without_notifying_stays_silent_in_the_feed(
    app: Flask, client: FlaskClient, login: Any, world: World
) -> None:
    """notify_users: false is the change's own decision; the feed does not overrule it."""
    pages = listeners(app, login, world)
    login(world.users["alice"])
    task_id = world.tasks["login"]
    quiet = {"status_id": RESOLVED, "notify_users": False}
    assert client.put(f"/tasks/api/task/{task_id}/status", json=quiet).status_code == 200
    same = {"status_id": RESOLVED, "comment": "Same"}  # a journal with notes, telling nobody
    response = client.put(f"/tasks/api/task/{task_id}/status", json=same)
    assert response.get_json()["data"]["changed"] is False
    assert heard(pages["bob"]) == heard(pages["board"]) == {"task_status_changed": 1}
    assert run_feed(app) == "ran"
    assert heard(pages["bob"]) == heard(pages["board"]) == {}
    assert rows_by_event() == {}


def test_a_journal_written_by_another_tool_is_announced_once(
    app: Flask, login: Any, world: World
) -> None:
    pages = listeners(app, login, world)
    task_id = world.tasks["login"]
    moved = write_journal(task_id, world.uid("alice"), "Fixed elsewhere", status=RESOLVED)
    commented = write_journal(task_id, world.uid("alice"), "And a remark")
    assert heard(pages["bob"]) == {}

    assert run_feed(app) == "ran"
    assert heard(pages["bob"]) == {
        "new_notification": 2,
        "task_status_changed": 1,
        "task_changed": 1,  # the comment: open task pages read the task again
    }
    assert received_moves(pages["board"]) == [(task_id, IN_PROGRESS, RESOLVED)]
    rows = rows_by_event()
    assert set(rows) == {f"journal:{moved}", f"journal:{commented}"}
    assert all(world.uid("alice") not in told for told in rows.values())  # never the actor
    fresh()
    kinds = db.session.scalars(select(Notifications.type).order_by(Notifications.id)).all()
    assert set(kinds) == {"status_change", "comment"}
    mails = outbox_size()
    assert mails == sum(len(told) for told in rows.values())

    assert run_feed(app) == "ran"
    assert heard(pages["bob"]) == heard(pages["board"]) == {}
    assert rows_by_event() == rows
    assert outbox_size() == mails


def received_moves(sock: Any) -> list[tuple[int, int, int]]:
    """The (task, old status, new status) moves a socket heard since the last call."""
    return [
        (m["task_id"], m["old_status_id"], m["new_status_id"])
        for m in received(sock).get("task_status_changed", [])
    ]


def test_the_cursor_survives_a_restart_without_losses_or_repeats(
    app: Flask, world: World, tmp_path: Path
) -> None:
    task_id = world.tasks["login"]
    before = write_journal(task_id, world.uid("alice"), "Before the restart")
    assert run_feed(app) == "ran"
    during = write_journal(task_id, world.uid("alice"), "While the helpdesk was down")

    restarted = create_app("testing", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        assert run_job(restarted, FEED) == "ran"
        with restarted.app_context():
            cursor = SiteSetting.get(cursor_key("local"))
            db.session.remove()
    finally:
        with restarted.app_context():
            db.engine.dispose()
    assert cursor == str(during)
    rows = rows_by_event()
    assert set(rows) == {f"journal:{before}", f"journal:{during}"}
    assert all(len(told) == len(set(told)) for told in rows.values())


def test_a_failing_run_is_logged_and_retried_next_time(
    app: Flask, login: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A run that fails commits nothing, its cursor included: the next run announces it all."""
    failures = [RuntimeError("the push service is on fire")]

    def fail_once(event: TaskStatusChanged) -> None:
        if failures:
            raise failures.pop()

    record(app, TaskStatusChanged, fail_once)
    pages = listeners(app, login, world)
    task_id = world.tasks["login"]
    write_journal(task_id, world.uid("alice"), status=NEW)
    start = SiteSetting.get(cursor_key("local"))

    with caplog.at_level(logging.ERROR, logger="helpdesk.worker"):
        assert run_feed(app) == "failed"
    assert "job follow_changes failed" in caplog.text
    assert heard(pages["bob"]) == heard(pages["board"]) == {}
    assert rows_by_event() == {}
    fresh()
    assert SiteSetting.get(cursor_key("local")) == start

    assert run_feed(app) == "ran"
    assert heard(pages["bob"]) == {"new_notification": 1, "task_status_changed": 1}
    assert heard(pages["board"]) == {"task_status_changed": 1}
    assert len(rows_by_event()) == 1
