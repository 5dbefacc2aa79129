"""Watcher changes (local store, two users): the one someone else adds is told on every channel
they chose, only if they may see the task; adding and removing are in the task's history and
reach the task's open pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from task_api_support import World, as_user, assert_error, build_world
from test_change_feed import listeners
from test_edit_api import notifications_of
from test_realtime import received, socket_for

from helpdesk.extensions import db
from helpdesk.notifications.models import MailOutbox
from helpdesk.notifications.service import record_watching
from helpdesk.tasks.backends.base import TaskFacts
from helpdesk.tasks.events import TaskWatchersChanged
from helpdesk.tasks.models import Task
from helpers import HTML, JSON, fresh

API = "/tasks/api"


@pytest.fixture
def world(make_user) -> World:
    return build_world(make_user)


def watchers_url(world: World, task: str) -> str:
    return f"{API}/task/{world.tasks[task]}/watchers"


def outbox_of(user_id: int) -> list[str]:
    """The subjects of the e-mails queued for a user."""
    fresh()
    subjects = list(
        db.session.scalars(
            select(MailOutbox.subject).where(MailOutbox.user_id == user_id).order_by(MailOutbox.id)
        )
    )
    db.session.rollback()
    return subjects


def test_the_user_someone_adds_is_told_live_by_the_bell_and_by_mail(
    app, client, login, world: World
) -> None:
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_BASE_URL="https://help.example")
    world.users["rita"].language = "en"  # her notifications are written in her language
    db.session.commit()
    pages = listeners(app, login, world)  # bob's page, and a page of the web project's room
    login(world.users["alice"])
    task_id = world.tasks["login"]  # web: author bob, assignee alice
    url = watchers_url(world, "login")
    added = client.post(url, json={"user_id": world.uid("rita")}, headers=JSON)
    assert added.status_code == 200, added.get_data(as_text=True)
    title = f"Alice Smith added you as a watcher of task #{task_id}"
    assert notifications_of(world.uid("rita")) == [("watcher", title, "Fix login issue", task_id)]
    assert outbox_of(world.uid("rita")) == [title]
    assert notifications_of(world.uid("alice")) == []  # the one who acted
    assert notifications_of(world.uid("bob")) == []  # the task's others hear nothing of it
    heard = received(pages["board"])  # the project's open pages show the new watchers
    [journal] = [j for j in journals(client, task_id) if j["details"][0]["property"] == "watcher"]
    assert heard["task_changed"] == [{"task_id": task_id, "journal_id": journal["id"]}]

    rita = as_user(app, login, world.users["rita"])
    rita_page = socket_for(app, rita)
    received(rita_page)
    assert client.delete(f"{url}/{world.uid('rita')}", headers=JSON).status_code == 200
    assert len(notifications_of(world.uid("rita"))) == 1  # a removal tells nobody ...
    assert "task_changed" in received(rita_page)  # ... but her open page follows it
    history = [
        (j["user_name"], d["property"], d["old_value"], d["new_value"])
        for j in journals(client, task_id)
        for d in j["details"]
    ]
    assert history[-2:] == [
        ("Alice Smith", "watcher", None, str(world.uid("rita"))),
        ("Alice Smith", "watcher", str(world.uid("rita")), None),
    ]
    page = client.get(f"/tasks/{task_id}", headers=HTML).get_data(as_text=True)
    assert "Watcher: — → <strong>Rita Reporter</strong>" in page
    assert "Watcher: Rita Reporter → <strong>—</strong>" in page

    # e-mail switched off: the bell still tells her, no e-mail is queued
    switched = rita.put(
        f"{API}/notification-preferences", json={"email_notifications_enabled": False}, headers=JSON
    )
    assert switched.status_code == 200, switched.get_data(as_text=True)
    assert client.post(url, json={"user_id": world.uid("rita")}, headers=JSON).status_code == 200
    assert [n[0] for n in notifications_of(world.uid("rita"))] == ["watcher", "watcher"]
    assert outbox_of(world.uid("rita")) == [title]


def journals(client: Any, task_id: int) -> list[dict[str, Any]]:
    return client.get(f"{API}/task/{task_id}/journals", headers=JSON).get_json()["data"]


def test_watching_or_leaving_by_oneself_tells_nobody(app, client, login, world: World) -> None:
    login(world.users["bob"])
    url = watchers_url(world, "login")
    assert client.post(url, json={"user_id": world.uid("bob")}, headers=JSON).status_code == 200
    assert client.delete(f"{url}/{world.uid('bob')}", headers=JSON).status_code == 200
    for name in ("alice", "bob", "rita"):
        assert notifications_of(world.uid(name)) == []
    again = client.delete(f"{url}/{world.uid('bob')}", headers=JSON)  # nothing to remove
    assert again.status_code == 200
    changes = [
        d["property"]
        for j in journals(client, world.tasks["login"])
        for d in j["details"]
        if d["property"] == "watcher"
    ]
    assert changes == ["watcher", "watcher"]  # joined and left; the repeat changed nothing


def test_refused_watcher_changes_tell_nobody_and_change_nothing(
    app, client, login, world: World
) -> None:
    login(world.users["alice"])
    url = watchers_url(world, "login")
    before = journals(client, world.tasks["login"])
    assert_error(client.post(url, json={"user_id": world.uid("dave")}, headers=JSON), 422)
    assert_error(client.post(url, json={"user_id": 987_654}, headers=JSON), 422)
    assert_error(client.post(url, json={"user_id": 0}, headers=JSON), 422)
    assert_error(client.post(url, data="user_id=3", headers=JSON), 415)
    rita = as_user(app, login, world.users["rita"])  # a reporter may not choose others
    assert_error(rita.post(url, json={"user_id": world.uid("bob")}, headers=JSON), 403)
    assert journals(client, world.tasks["login"]) == before
    for name in ("bob", "dave", "rita"):
        assert notifications_of(world.uid(name)) == []


def test_a_watcher_who_may_not_see_the_task_is_never_told(app, world: World) -> None:
    """Who hears of a watcher change is decided in notifications/service.py, which asks the
    backend who may see the task: an event naming an outsider (as a backend that let one
    through would publish) records nothing."""
    task = db.session.get_one(Task, world.tasks["bobinfra"])
    facts = TaskFacts(task.id, task.subject, task.project_id, task.author_id, None, ())
    for outsider in ("alice", "dave", "carol"):  # not in Infrastructure; carol: no task access
        with app.test_request_context():
            record_watching(
                TaskWatchersChanged(
                    task=facts,
                    actor_id=world.uid("bob"),
                    user_id=world.uid(outsider),
                    watching=True,
                    journal_id=None,
                    occurred_at=datetime.now(UTC).replace(tzinfo=None),
                )
            )
        db.session.commit()
        assert notifications_of(world.uid(outsider)) == []
