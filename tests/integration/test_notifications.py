"""Notifications: recorded with each task change, read and marked read through the API, and the
browsers' push subscriptions.

Recording: one row per recipient (assignee, author, watchers; never the actor) in the same
transaction as the change, in the recipient's language, never twice for one event.
API: /tasks/api/notifications (list, read, read-all, delete), /tasks/api/push-subscribe and
/tasks/api/push-unsubscribe, in the seed's shapes.

Every refusal is checked twice: the answer (status code and JSON body) and the database (the
rows are re-read and compared with what was there before the request).
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from task_api_support import (
    CLOSED,
    DEVELOPER,
    IN_PROGRESS,
    RESOLVED,
    World,
    as_user,
    assert_error,
    build_world,
    journals_of,
    record_status_events,
    snapshot,
    task_row,
)

from helpdesk import tasks as tasks_package
from helpdesk.core.events import record, subscribe
from helpdesk.core.models import utcnow
from helpdesk.extensions import db
from helpdesk.notifications import service
from helpdesk.notifications.models import Notifications, PushSubscription
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.events import TaskStatusChanged
from helpdesk.tasks.models import Member, Watcher
from helpers import JSON, committed_rows, fresh

API = "/tasks/api"
EVIL = {**JSON, "Origin": "http://evil.example"}
SEED_KEYS = {"id", "type", "title", "message", "issue_id", "is_read", "created_at", "data"}


@pytest.fixture
def world(make_user) -> World:
    """Projects, members, a workflow and tasks (see task_api_support.build_world)."""
    return build_world(make_user)


@pytest.fixture
def status_events(app):
    """TaskStatusChanged events delivered (after commit) during the test."""
    return record_status_events(app)


def set_language(world: World, **languages: str | None) -> None:
    """Save users' interface languages (None: the site default, Russian)."""
    fresh()
    for name, language in languages.items():
        user = db.session.get(type(world.users[name]), world.uid(name))
        user.language = language
    db.session.commit()


def add_watchers(task_id: int, *user_ids: int) -> None:
    """Make users watchers of a task."""
    for user_id in user_ids:
        db.session.add(Watcher(task_id=task_id, user_id=user_id))
    db.session.commit()


def put_status(client, task_id: int, body: dict, headers=JSON):
    return client.put(f"{API}/task/{task_id}/status", json=body, headers=headers)


# -- reading the database as committed -------------------------------------------------------


def notification_rows(**where: Any) -> list[dict[str, Any]]:
    """Notification rows as committed, oldest first, optionally filtered by column values."""
    fresh()
    query = select(Notifications.__table__).order_by(Notifications.id)
    for column, value in where.items():
        query = query.where(getattr(Notifications, column) == value)
    return [dict(row) for row in db.session.execute(query).mappings()]


def subscription_rows() -> list[dict[str, Any]]:
    """Push subscription rows as committed, oldest first."""
    fresh()
    query = select(PushSubscription.__table__).order_by(PushSubscription.id)
    return [dict(row) for row in db.session.execute(query).mappings()]


def everything() -> dict[str, Any]:
    """All notification and subscription rows and the task rows: what a refusal leaves alone."""
    return {
        "notifications": notification_rows(),
        "subscriptions": subscription_rows(),
        "tasks": snapshot(),
    }


_keys = iter(range(1, 1_000_000))


def add_notification(user_id: int, **fields: Any) -> int:
    """Store a notification directly (for the list/read/delete tests); returns its id."""
    values: dict[str, Any] = {
        "type": "status_change",
        "title": "Task #7 status changed",
        "message": "Task #7 changed from 'New' to 'Resolved'",
        "issue_id": 7,
        "old_status": "New",
        "new_status": "Resolved",
        "old_subj": "Some task",
        "data": {"old_status": "New", "new_status": "Resolved", "task_subject": "Some task"},
        "event_key": f"test:{next(_keys)}",
        "date_created": utcnow(),
    }
    values.update(fields)
    notification = Notifications(user_id=user_id, **values)
    db.session.add(notification)
    db.session.commit()
    return notification.id


# =============================================================================================
# Recording: status changes
# =============================================================================================


@pytest.fixture
def login_task(world: World) -> int:
    """ "Fix login issue" (author bob, assignee alice) watched by dave (made a Developer of its
    project), alice and rita; bob reads English, alice Russian, dave the default (Russian)."""
    task_id = world.tasks["login"]
    db.session.add(
        Member(project_id=world.projects["web"], user_id=world.uid("dave"), role_id=DEVELOPER)
    )
    add_watchers(task_id, world.uid("dave"), world.uid("alice"), world.uid("rita"))
    set_language(world, bob="en", alice="ru", dave=None)
    return task_id


def test_status_change_notifies_assignee_author_and_watchers_once_each_never_the_actor(
    app, login, world: World, login_task: int
):
    rita = as_user(app, login, world.users["rita"])  # a Reporter, also a watcher
    response = put_status(
        rita, login_task, {"status_id": RESOLVED, "comment": "Checked on staging"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()["data"]
    assert data["changed"] is True

    rows = notification_rows()
    recipients = [row["user_id"] for row in rows]
    assert sorted(recipients) == sorted([world.uid("alice"), world.uid("bob"), world.uid("dave")])
    assert world.uid("rita") not in recipients
    assert data["notifications_sent"] == len(rows) == 3

    journal_id = journals_of(login_task)[0]["id"]
    for row in rows:
        assert row["type"] == "status_change"
        assert row["issue_id"] == login_task
        assert (row["old_status"], row["new_status"]) == ("In Progress", "Resolved")
        assert row["old_subj"] == "Fix login issue"
        assert "Fix login issue" in row["message"]  # what the task is, not only its number
        assert row["message"].endswith("Checked on staging")  # and what was said with the move
        assert row["is_read"] is False
        assert row["read_at"] is None
        assert row["event_key"] == f"journal:{journal_id}"
        assert row["data"] == {
            "old_status": "In Progress",
            "new_status": "Resolved",
            "task_subject": "Fix login issue",
            "comment": "Checked on staging",
        }
        assert f"#{login_task}" in row["title"]
        assert abs(row["date_created"] - utcnow()) < timedelta(minutes=1)


def test_recipients_language_decides_the_text(app, login, world: World, login_task: int):
    # The actor's request is in English; each recipient reads their own language.
    rita = as_user(app, login, world.users["rita"])
    assert put_status(rita, login_task, {"status_id": RESOLVED}).status_code == 200

    (bob,) = notification_rows(user_id=world.uid("bob"))
    assert bob["title"] == f"Task #{login_task} status changed"
    assert bob["message"] == (
        f"Task #{login_task} \"Fix login issue\" changed from 'In Progress' to 'Resolved'"
    )

    (alice,) = notification_rows(user_id=world.uid("alice"))
    assert "«В работе»" in alice["message"]
    assert "«Решена»" in alice["message"]
    assert alice["title"] == f"Изменен статус задачи #{login_task}"
    assert "In Progress" not in alice["message"]
    assert f"#{login_task}" in alice["message"]
    # The data keeps the statuses' own names, whatever the language.
    assert (alice["data"]["old_status"], alice["data"]["new_status"]) == ("In Progress", "Resolved")

    # No language saved: the site default (Russian).
    (dave,) = notification_rows(user_id=world.uid("dave"))
    assert (dave["title"], dave["message"]) == (alice["title"], alice["message"])


def test_without_a_chosen_language_the_last_logins_decides(
    app, login, world: World, login_task: int
):
    fresh()
    for name, language in (("bob", None), ("alice", "")):
        user = db.session.get(type(world.users[name]), world.uid(name))
        user.language, user.last_locale = language, "en"
    db.session.commit()
    rita = as_user(app, login, world.users["rita"])
    assert put_status(rita, login_task, {"status_id": RESOLVED}).status_code == 200
    titles = {row["user_id"]: row["title"] for row in notification_rows()}
    english = f"Task #{login_task} status changed"
    assert titles[world.uid("bob")] == titles[world.uid("alice")] == english
    assert titles[world.uid("dave")] == f"Изменен статус задачи #{login_task}"  # the default


def test_a_russian_recipient_reads_a_russian_title_and_message(
    app, login, world: World, login_task: int
):
    rita = as_user(app, login, world.users["rita"])
    assert put_status(rita, login_task, {"status_id": RESOLVED}).status_code == 200
    (alice,) = notification_rows(user_id=world.uid("alice"))
    assert "status changed" not in alice["title"]
    assert "changed from" not in alice["message"]
    assert any("а" <= char <= "я" for char in alice["title"].lower())


def test_notify_users_false_records_nothing(app, login, world: World, login_task: int):
    rita = as_user(app, login, world.users["rita"])
    response = put_status(rita, login_task, {"status_id": RESOLVED, "notify_users": False})
    assert response.status_code == 200
    assert response.get_json()["data"]["notifications_sent"] == 0
    assert task_row(login_task)["status_id"] == RESOLVED  # the change itself happened
    assert notification_rows() == []


def test_a_refused_change_records_nothing(app, login, world: World, login_task: int):
    rita = as_user(app, login, world.users["rita"])
    before = everything()
    # The Reporter's workflow allows In Progress -> Resolved only.
    body = assert_error(put_status(rita, login_task, {"status_id": CLOSED}), 422)
    assert body["allowed_statuses"] == [{"id": RESOLVED, "name": "Resolved"}]
    assert everything() == before
    assert notification_rows() == []
    assert journals_of(login_task) == []


def test_a_same_status_change_records_nothing(app, login, world: World, login_task: int):
    rita = as_user(app, login, world.users["rita"])
    for body in ({"status_id": IN_PROGRESS}, {"status_id": IN_PROGRESS, "comment": "still on it"}):
        response = put_status(rita, login_task, body)
        assert response.status_code == 200
        data = response.get_json()["data"]
        assert data["changed"] is False
        assert data["notifications_sent"] == 0
    assert notification_rows() == []


def test_notifications_sent_counts_the_rows_of_this_change_only(app, login, world: World):
    alice = as_user(app, login, world.users["alice"])
    task_id = world.tasks["login"]  # author bob, assignee alice, no watchers
    first = put_status(alice, task_id, {"status_id": RESOLVED})
    assert first.get_json()["data"]["notifications_sent"] == 1
    second = put_status(alice, task_id, {"status_id": IN_PROGRESS})
    assert second.get_json()["data"]["notifications_sent"] == 1
    rows = notification_rows()
    assert [row["user_id"] for row in rows] == [world.uid("bob")] * 2
    assert [(row["old_status"], row["new_status"]) for row in rows] == [
        ("In Progress", "Resolved"),
        ("Resolved", "In Progress"),
    ]
    assert rows[0]["event_key"] != rows[1]["event_key"]


def test_a_bulk_change_notifies_for_the_tasks_that_changed_only(app, login, world: World):
    rita = as_user(app, login, world.users["rita"])
    t = world.tasks
    response = rita.put(
        f"{API}/tasks/status",
        json={
            "updates": [
                {"task_id": t["login"], "status_id": RESOLVED},
                {"task_id": t["bobweb"], "status_id": CLOSED},  # refused by the workflow
            ]
        },
        headers=JSON,
    )
    assert response.status_code == 200
    assert response.get_json()["data"]["succeeded"] == 1
    rows = notification_rows()
    assert {row["issue_id"] for row in rows} == {t["login"]}
    assert sorted(row["user_id"] for row in rows) == sorted([world.uid("alice"), world.uid("bob")])


# =============================================================================================
# Recording: comments and assignments
# =============================================================================================


def test_a_comment_notifies_the_tasks_people(app, login, world: World, login_task: int):
    rita = as_user(app, login, world.users["rita"])
    response = rita.post(
        f"{API}/task/{login_task}/comments", json={"notes": "Works for me now"}, headers=JSON
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    journal_id = response.get_json()["data"]["id"]

    rows = notification_rows()
    assert sorted(row["user_id"] for row in rows) == sorted(
        [world.uid("alice"), world.uid("bob"), world.uid("dave")]
    )
    for row in rows:
        assert row["type"] == "comment"
        assert row["issue_id"] == login_task
        assert row["old_subj"] == "Fix login issue"
        assert (row["old_status"], row["new_status"]) == (None, None)
        assert row["data"] == {"task_subject": "Fix login issue", "journal_id": journal_id}
        assert row["message"] == "Rita Reporter: Works for me now"
        assert row["is_read"] is False
    (bob,) = [row for row in rows if row["user_id"] == world.uid("bob")]
    assert bob["title"] == f"New comment on task #{login_task}"


def test_creating_a_task_for_someone_else_notifies_the_assignee(app, login, world: World):
    set_language(world, bob="en")
    alice = as_user(app, login, world.users["alice"])
    response = alice.post(
        f"{API}/task",
        json={
            "project_id": world.projects["web"],
            "subject": "Rotate the TLS certificates",
            "assigned_to_id": world.uid("bob"),
        },
        headers=JSON,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    task_id = response.get_json()["data"]["task_id"]
    rows = notification_rows()
    assert len(rows) == 1
    (row,) = rows
    assert row["user_id"] == world.uid("bob")
    assert row["type"] == "assigned"
    assert row["issue_id"] == task_id
    assert row["title"] == f"Task #{task_id} assigned to you"
    assert row["message"] == "Rotate the TLS certificates"
    assert row["data"] == {"task_subject": "Rotate the TLS certificates", "project": "Web Portal"}
    assert row["is_read"] is False


@pytest.mark.parametrize("assignee", ["alice", None])
def test_creating_a_task_for_oneself_or_no_one_notifies_no_one(app, login, world: World, assignee):
    alice = as_user(app, login, world.users["alice"])
    body: dict[str, Any] = {"project_id": world.projects["web"], "subject": "Mine"}
    if assignee:
        body["assigned_to_id"] = world.uid(assignee)
    assert alice.post(f"{API}/task", json=body, headers=JSON).status_code == 201
    assert notification_rows() == []


def test_people_who_cannot_see_the_task_are_not_told_about_it(app, login, world: World):
    task_id = world.tasks["hidden"]  # infra: author bob, assignee alice (not a member)
    add_watchers(task_id, world.uid("dave"))  # dave: member of nothing
    alice = as_user(app, login, world.users["alice"])
    assert_error(alice.get(f"{API}/task/{task_id}", headers=JSON), 404)

    bob = as_user(app, login, world.users["bob"])
    assert put_status(bob, task_id, {"status_id": RESOLVED}).status_code == 200
    notes = {"notes": "The root password is hunter2"}
    assert bob.post(f"{API}/task/{task_id}/comments", json=notes, headers=JSON).status_code == 201
    assert notification_rows() == []


def test_an_admin_watching_a_project_they_are_not_in_is_told_of_its_changes(
    app, login, world: World
):
    """The backend settles who may see the task: an admin outside the project may, a watcher
    who is in no project may not."""
    task_id = world.tasks["bobweb"]  # web: author alice, assignee bob
    add_watchers(task_id, world.uid("admin"), world.uid("dave"))
    bob = as_user(app, login, world.users["bob"])
    assert put_status(bob, task_id, {"status_id": RESOLVED}).status_code == 200
    recipients = sorted(row["user_id"] for row in notification_rows())
    assert recipients == sorted([world.uid("alice"), world.uid("admin")])


def test_the_feeds_changes_reach_the_same_people_as_the_change_itself(
    app, login, world: World, login_task: int
):
    """The backend's feed reports the task's people; the service picks from them by the same
    rule as for a change made here (never the actor, only those who may see the task)."""
    add_watchers(login_task, world.uid("carol"))  # in no project: may not see it
    start = get_backend().changes_since(None)
    rita = as_user(app, login, world.users["rita"])
    assert put_status(rita, login_task, {"status_id": RESOLVED}).status_code == 200
    (change,) = get_backend().changes_since(start.cursor).changes
    assert world.uid("carol") in change.task.watcher_ids  # a fact, not yet a recipient
    told = sorted(row["user_id"] for row in notification_rows())
    assert service.change_recipients(change) == told
    assert told == sorted([world.uid("alice"), world.uid("bob"), world.uid("dave")])


def test_tasks_never_import_notifications() -> None:
    """Notifications depend on tasks, not the reverse: the status change's answer learns how
    many were told through a hook notifications registers."""
    package = Path(tasks_package.__file__).parent
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            assert not [n for n in names if n.startswith("helpdesk.notifications")], path


# =============================================================================================
# Recording: idempotency, transactions and delivery after commit
# =============================================================================================


def test_replaying_a_status_change_creates_no_duplicates(
    app, login, world: World, login_task: int, status_events
):
    rita = as_user(app, login, world.users["rita"])
    assert put_status(rita, login_task, {"status_id": RESOLVED}).status_code == 200
    (event,) = status_events
    assert isinstance(event, TaskStatusChanged)
    before = notification_rows()
    assert len(before) == 3

    # Replayed outside any request, as the change feed or a retried job would.
    service.record_status_change(event)
    service.record_status_change(event)
    db.session.commit()
    assert notification_rows() == before


def test_replaying_a_change_without_a_journal_records_it_once(
    app, login, world: World, login_task: int, status_events
):
    rita = as_user(app, login, world.users["rita"])
    assert put_status(rita, login_task, {"status_id": RESOLVED}).status_code == 200
    (event,) = status_events
    without_journal = dataclasses.replace(event, journal_id=None)
    key = service.event_key(without_journal)
    to_send = []
    for _ in range(3):
        service.record_status_change(without_journal)
        db.session.commit()
        to_send.append(len(service.recorded_for(key)))
    assert to_send == [3, 0, 0]  # alice, bob, dave once each; a replay has nothing to send
    assert len(notification_rows()) == 6


def test_notifications_roll_back_with_a_change_that_fails_after_recording(
    app, login, world: World, login_task: int, status_events
):
    recorded_before_failure: list[int] = []

    def fail_after_the_notifications(event: TaskStatusChanged) -> None:
        # Runs after the notification recorder, in the same transaction.
        recorded_before_failure.append(
            len(db.session.scalars(select(Notifications.id)).all())  # this transaction's rows
        )
        raise RuntimeError("a later step of the change failed")

    record(app, TaskStatusChanged, fail_after_the_notifications)
    rita = as_user(app, login, world.users["rita"])
    before = everything()
    assert_error(put_status(rita, login_task, {"status_id": RESOLVED}), 500)
    assert recorded_before_failure == [3]
    assert everything() == before
    assert notification_rows() == []
    assert task_row(login_task)["status_id"] == IN_PROGRESS
    assert status_events == []  # never delivered


def test_notifications_roll_back_when_the_commit_fails(
    app, login, world: World, login_task: int, monkeypatch, status_events
):
    import helpdesk.tasks.api as tasks_api

    flushed: list[int] = []

    def failing_commit() -> None:
        db.session.flush()
        flushed.append(len(db.session.scalars(select(Notifications.id)).all()))
        raise RuntimeError("the database went away")

    monkeypatch.setattr(tasks_api, "commit", failing_commit)
    rita = as_user(app, login, world.users["rita"])
    before = everything()
    assert_error(put_status(rita, login_task, {"status_id": RESOLVED}), 500)
    assert flushed == [3]
    assert everything() == before
    assert notification_rows() == []
    assert status_events == []


def test_rows_are_committed_before_delivery(app, login, world: World, login_task: int):
    seen: list[list[int]] = []

    def deliver(event: TaskStatusChanged) -> None:
        rows = committed_rows(
            select(Notifications.user_id).where(Notifications.event_key == service.event_key(event))
        )
        seen.append(sorted(user_id for (user_id,) in rows))

    subscribe(app, TaskStatusChanged, deliver)
    rita = as_user(app, login, world.users["rita"])
    assert put_status(rita, login_task, {"status_id": RESOLVED}).status_code == 200
    assert seen == [sorted([world.uid("alice"), world.uid("bob"), world.uid("dave")])]


# =============================================================================================
# GET /tasks/api/notifications
# =============================================================================================


def get_notifications(client, **params: Any):
    return client.get(f"{API}/notifications", query_string=params, headers=JSON)


def test_list_answers_the_seed_document(app, login, world: World, login_task: int):
    rita = as_user(app, login, world.users["rita"])
    assert put_status(rita, login_task, {"status_id": RESOLVED}).status_code == 200
    (row,) = notification_rows(user_id=world.uid("bob"))

    bob = as_user(app, login, world.users["bob"])
    response = get_notifications(bob)
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    assert isinstance(body["execution_time"], int | float)
    data = body["data"]
    assert (data["total_count"], data["unread_count"]) == (1, 1)
    (item,) = data["notifications"]
    assert set(item) == SEED_KEYS | {"read_at"}
    assert item == {
        "id": row["id"],
        "type": "status_change",
        "title": f"Task #{login_task} status changed",
        "message": (
            f"Task #{login_task} \"Fix login issue\" changed from 'In Progress' to 'Resolved'"
        ),
        "issue_id": login_task,
        "is_read": False,
        "created_at": row["date_created"].replace(microsecond=0).isoformat() + "Z",
        "read_at": None,
        "data": {
            "old_status": "In Progress",
            "new_status": "Resolved",
            "task_subject": "Fix login issue",
            "comment": "",
        },
    }
    assert datetime.fromisoformat(item["created_at"].removesuffix("Z"))


@pytest.fixture
def bobs(world: World) -> list[int]:
    """Five notifications of bob, oldest first: two read, and one of each type unread."""
    bob, now = world.uid("bob"), utcnow()
    ids = [
        add_notification(bob, date_created=now - timedelta(hours=5), is_read=True),
        add_notification(bob, date_created=now - timedelta(hours=4), type="comment"),
        add_notification(bob, date_created=now - timedelta(hours=3), type="assigned"),
        add_notification(bob, date_created=now - timedelta(hours=2), is_read=True, type="comment"),
        add_notification(bob, date_created=now - timedelta(hours=1)),
    ]
    # Someone else's, never shown to bob.
    add_notification(world.uid("alice"), title="For alice only")
    return ids


def listed(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.get_json()["data"]["notifications"]]


def test_list_is_newest_first_and_only_the_callers_own(app, login, world: World, bobs):
    bob = as_user(app, login, world.users["bob"])
    response = get_notifications(bob)
    assert listed(response) == bobs[::-1]
    data = response.get_json()["data"]
    assert (data["total_count"], data["unread_count"]) == (5, 3)
    assert "For alice only" not in response.get_data(as_text=True)

    alice = as_user(app, login, world.users["alice"])
    data = get_notifications(alice).get_json()["data"]
    assert [item["title"] for item in data["notifications"]] == ["For alice only"]
    assert (data["total_count"], data["unread_count"]) == (1, 1)


@pytest.mark.parametrize("value", ["true", "1", "True", "yes"])
def test_unread_only(app, login, world: World, bobs, value):
    bob = as_user(app, login, world.users["bob"])
    response = get_notifications(bob, unread_only=value)
    assert listed(response) == [bobs[4], bobs[2], bobs[1]]
    data = response.get_json()["data"]
    assert (data["total_count"], data["unread_count"]) == (3, 3)
    assert all(item["is_read"] is False for item in data["notifications"])


@pytest.mark.parametrize("value", ["false", "0", "False"])
def test_unread_only_false_lists_everything(app, login, world: World, bobs, value):
    bob = as_user(app, login, world.users["bob"])
    assert listed(get_notifications(bob, unread_only=value)) == bobs[::-1]


def test_limit_and_offset_page_through(app, login, world: World, bobs):
    bob = as_user(app, login, world.users["bob"])
    pages = [listed(get_notifications(bob, limit=2, offset=offset)) for offset in (0, 2, 4, 6)]
    assert pages == [[bobs[4], bobs[3]], [bobs[2], bobs[1]], [bobs[0]], []]
    data = get_notifications(bob, limit=1, offset=6).get_json()["data"]
    assert (data["total_count"], data["unread_count"]) == (5, 3)
    assert listed(get_notifications(bob, limit=100)) == bobs[::-1]
    assert listed(get_notifications(bob, limit=1)) == [bobs[4]]


def test_default_limit_is_fifty(app, login, world: World):
    bob_id = world.uid("bob")
    for _ in range(55):
        db.session.add(
            Notifications(user_id=bob_id, title="t", message="m", event_key=f"b:{next(_keys)}")
        )
    db.session.commit()
    bob = as_user(app, login, world.users["bob"])
    data = get_notifications(bob).get_json()["data"]
    assert len(data["notifications"]) == 50
    assert data["total_count"] == 55


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"unread_only": "maybe"}, "unread_only"),
        ({"type": "nonsense"}, "type"),
        ({"type": ""}, "type"),
    ],
)
def test_invalid_query_parameters_are_400(app, login, world: World, bobs, params, field):
    bob = as_user(app, login, world.users["bob"])
    body = assert_error(get_notifications(bob, **params), 400)
    assert list(body["errors"]) == [field]
    assert body["errors"][field]


@pytest.mark.parametrize(
    ("kind", "positions"), [("status_change", [4, 0]), ("comment", [3, 1]), ("assigned", [2])]
)
def test_type_filter(app, login, world: World, bobs, kind, positions):
    bob = as_user(app, login, world.users["bob"])
    response = get_notifications(bob, type=kind)
    assert listed(response) == [bobs[i] for i in positions]
    data = response.get_json()["data"]
    assert data["total_count"] == len(positions)
    assert data["unread_count"] == 3  # the bell's counter: all unread, whatever the filter
    assert {item["type"] for item in data["notifications"]} == {kind}


def test_type_and_unread_only_combine(app, login, world: World, bobs):
    bob = as_user(app, login, world.users["bob"])
    assert listed(get_notifications(bob, type="comment", unread_only="true")) == [bobs[1]]


def test_a_user_without_task_access_reads_their_notifications(app, login, world: World):
    carol_id = world.uid("carol")
    first = add_notification(carol_id, type="assigned")
    second = add_notification(carol_id)
    carol = as_user(app, login, world.users["carol"])
    # No task API for carol…
    assert_error(carol.get(f"{API}/tasks", headers=JSON), 403)
    # … but her notifications are hers.
    assert listed(get_notifications(carol)) == [second, first]
    response = carol.put(f"{API}/notifications/{first}/read", headers=JSON)
    assert response.status_code == 200
    assert response.get_json()["data"]["unread_count"] == 1
    assert carol.put(f"{API}/notifications/read-all", headers=JSON).status_code == 200
    assert carol.delete(f"{API}/notifications/{second}", headers=JSON).status_code == 200
    assert [row["id"] for row in notification_rows()] == [first]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/notifications", None),
        ("put", "/notifications/{id}/read", None),
        ("put", "/notifications/read-all", None),
        ("delete", "/notifications/{id}", None),
        ("post", "/push-subscribe", "subscription"),
        ("post", "/push-unsubscribe", {"endpoint": "https://push.example/one"}),
    ],
)
def test_anonymous_is_401_and_changes_nothing(client, world: World, method, path, body):
    notification_id = add_notification(world.uid("bob"))
    if body == "subscription":
        body = subscription_doc()
    before = everything()
    response = getattr(client, method)(
        API + path.format(id=notification_id), json=body, headers=JSON
    )
    assert_error(response, 401)
    assert "Task #7" not in response.get_data(as_text=True)
    assert everything() == before


# =============================================================================================
# PUT /tasks/api/notifications/<id>/read, PUT …/read-all, DELETE …/<id>
# =============================================================================================


def test_mark_read_sets_is_read_and_read_at(app, login, world: World, bobs):
    bob = as_user(app, login, world.users["bob"])
    target = bobs[1]
    response = bob.put(f"{API}/notifications/{target}/read", headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is True
    assert body["message"] == "Notification marked as read"
    assert body["data"] == {"unread_count": 2}

    (row,) = notification_rows(id=target)
    assert row["is_read"] is True
    assert abs(row["read_at"] - utcnow()) < timedelta(minutes=1)
    # Nothing else changed.
    assert [r["is_read"] for r in notification_rows(user_id=world.uid("bob"))] == [
        True,
        True,
        False,
        True,
        False,
    ]
    item = next(
        i for i in get_notifications(bob).get_json()["data"]["notifications"] if i["id"] == target
    )
    assert item["is_read"] is True
    assert item["read_at"] == row["read_at"].replace(microsecond=0).isoformat() + "Z"


def test_mark_read_is_idempotent(app, login, world: World, bobs):
    bob = as_user(app, login, world.users["bob"])
    target = bobs[4]
    assert bob.put(f"{API}/notifications/{target}/read", headers=JSON).status_code == 200
    first = notification_rows(id=target)[0]
    again = bob.put(f"{API}/notifications/{target}/read", headers=JSON)
    assert again.status_code == 200
    assert again.get_json()["data"] == {"unread_count": 2}
    assert notification_rows(id=target)[0] == first  # read_at kept from the first time
    # Marking an already read one changes nothing either.
    read_before = notification_rows(id=bobs[0])[0]
    assert bob.put(f"{API}/notifications/{bobs[0]}/read", headers=JSON).status_code == 200
    assert notification_rows(id=bobs[0])[0] == read_before


def test_mark_read_of_someone_elses_notification_is_404(app, login, world: World, bobs):
    alice = as_user(app, login, world.users["alice"])
    before = everything()
    for notification_id in (bobs[4], 999_999):
        body = assert_error(alice.put(f"{API}/notifications/{notification_id}/read"), 404)
        assert "Task #7" not in str(body)
    assert everything() == before
    assert notification_rows(id=bobs[4])[0]["is_read"] is False


def test_mark_all_read_marks_only_ones_own(app, login, world: World, bobs):
    alice_id = world.uid("alice")
    bob = as_user(app, login, world.users["bob"])
    response = bob.put(f"{API}/notifications/read-all", headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is True
    assert body["message"] == "All notifications marked as read"
    assert body["data"] == {"marked": 3, "unread_count": 0}
    rows = notification_rows(user_id=world.uid("bob"))
    assert all(row["is_read"] for row in rows)
    # The three unread ones were read just now; the two read before keep their read_at.
    assert [row["read_at"] is not None for row in rows] == [False, True, True, False, True]
    (alices,) = notification_rows(user_id=alice_id)
    assert (alices["is_read"], alices["read_at"]) == (False, None)
    assert get_notifications(bob).get_json()["data"]["unread_count"] == 0

    again = bob.put(f"{API}/notifications/read-all", headers=JSON)
    assert again.get_json()["data"] == {"marked": 0, "unread_count": 0}
    assert notification_rows(user_id=world.uid("bob")) == rows


def test_delete_removes_ones_own(app, login, world: World, bobs):
    bob = as_user(app, login, world.users["bob"])
    response = bob.delete(f"{API}/notifications/{bobs[4]}", headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["message"] == "Notification deleted"
    assert body["data"] == {"unread_count": 2}
    assert notification_rows(id=bobs[4]) == []
    assert len(notification_rows()) == 5
    assert assert_error(bob.delete(f"{API}/notifications/{bobs[4]}"), 404)


def test_delete_of_someone_elses_notification_is_404(app, login, world: World, bobs):
    alice = as_user(app, login, world.users["alice"])
    before = everything()
    for notification_id in (bobs[0], 999_999):
        assert_error(alice.delete(f"{API}/notifications/{notification_id}", headers=JSON), 404)
    assert everything() == before


# =============================================================================================
# POST /tasks/api/push-subscribe and /tasks/api/push-unsubscribe
# =============================================================================================


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def browser_keys() -> dict[str, str]:
    """What a browser's PushSubscription carries: a P-256 public key and a 16-byte secret."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    point = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert len(point) == 65
    assert point[0] == 4
    return {"p256dh": b64url(point), "auth": b64url(os.urandom(16))}


FCM_ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc123"


def subscription_doc(endpoint: str = FCM_ENDPOINT) -> dict[str, Any]:
    """A PushSubscription as JSON.stringify(subscription) gives it."""
    return {"endpoint": endpoint, "expirationTime": None, "keys": browser_keys()}


def subscribe_push(client, body, **kwargs):
    return client.post(f"{API}/push-subscribe", json=body, headers=JSON, **kwargs)


def test_subscribe_stores_the_subscription(app, login, world: World):
    bob = as_user(app, login, world.users["bob"])
    doc = subscription_doc()
    response = subscribe_push(bob, doc)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is True
    assert body["message"] == "Push subscription created"
    (row,) = subscription_rows()
    assert body["subscription_id"] == row["id"]
    assert body["data"] == {"subscription_id": row["id"]}
    assert row["user_id"] == world.uid("bob")
    assert row["endpoint"] == doc["endpoint"]
    assert (row["p256dh"], row["auth"]) == (doc["keys"]["p256dh"], doc["keys"]["auth"])
    assert row["is_active"] is True


def test_subscribing_again_updates_never_duplicates(app, login, world: World):
    bob = as_user(app, login, world.users["bob"])
    first = subscribe_push(bob, subscription_doc()).get_json()["subscription_id"]
    renewed = subscription_doc()
    response = subscribe_push(bob, renewed)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["message"] == "Push subscription updated"
    assert body["subscription_id"] == first
    (row,) = subscription_rows()
    assert row["id"] == first
    assert (row["p256dh"], row["auth"]) == (renewed["keys"]["p256dh"], renewed["keys"]["auth"])

    # A second browser is a second subscription.
    other = subscribe_push(bob, subscription_doc("https://fcm.googleapis.com/fcm/send/other"))
    assert other.status_code == 201
    assert len(subscription_rows()) == 2


def test_the_same_browser_signed_in_as_another_user_moves_to_them(app, login, world: World):
    bob = as_user(app, login, world.users["bob"])
    doc = subscription_doc()
    subscription_id = subscribe_push(bob, doc).get_json()["subscription_id"]
    alice = as_user(app, login, world.users["alice"])
    response = subscribe_push(alice, doc)  # the same endpoint with its own keys
    assert response.status_code == 200
    assert response.get_json()["subscription_id"] == subscription_id
    (row,) = subscription_rows()
    assert row["user_id"] == world.uid("alice")
    # bob no longer owns it: he cannot unsubscribe it.
    assert_error(
        bob.post(f"{API}/push-unsubscribe", json={"endpoint": row["endpoint"]}, headers=JSON),
        404,
    )
    assert subscription_rows()[0]["is_active"] is True


def test_subscribing_again_reactivates(app, login, world: World):
    bob = as_user(app, login, world.users["bob"])
    doc = subscription_doc()
    subscribe_push(bob, doc)
    unsubscribe = bob.post(f"{API}/push-unsubscribe", json={"endpoint": doc["endpoint"]})
    assert unsubscribe.status_code == 200
    assert subscription_rows()[0]["is_active"] is False
    assert subscribe_push(bob, doc).status_code == 200
    assert subscription_rows()[0]["is_active"] is True


def test_http_endpoints_only_where_configured(app, login, world: World):
    bob = as_user(app, login, world.users["bob"])
    doc = subscription_doc("http://127.0.0.1:8765/push/1")
    body = assert_error(subscribe_push(bob, doc), 422)
    assert list(body["errors"]) == ["endpoint"]
    assert subscription_rows() == []
    app.config["PUSH_ALLOW_HTTP"] = True
    app.config["PUSH_ALLOW_PRIVATE_ENDPOINTS"] = True
    assert subscribe_push(bob, doc).status_code == 201
    assert [row["endpoint"] for row in subscription_rows()] == [doc["endpoint"]]


def _with(path: str, value: Any):
    """A mutation of a valid subscription document: set (or, with ..., delete) one field."""

    def mutate(doc: dict[str, Any]) -> dict[str, Any]:
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = target[part]
        if value is ...:
            del target[last]
        else:
            target[last] = value(target[last]) if callable(value) else value
        return doc

    return mutate


POINT = b"\x04" + bytes(range(1, 65))
INVALID_SUBSCRIPTIONS = [
    ("http", _with("endpoint", "http://push.example/send/1"), "endpoint"),
    ("not a url", _with("endpoint", "not a url"), "endpoint"),
    ("no host", _with("endpoint", "https://"), "endpoint"),
    ("ftp", _with("endpoint", "ftp://push.example/1"), "endpoint"),
    ("javascript", _with("endpoint", "javascript:alert(1)"), "endpoint"),
    ("empty endpoint", _with("endpoint", ""), "endpoint"),
    ("long endpoint", _with("endpoint", "https://push.example/" + "a" * 1000), "endpoint"),
    ("p256dh 64 bytes", _with("keys.p256dh", b64url(POINT[:64])), "keys.p256dh"),
    ("p256dh 66 bytes", _with("keys.p256dh", b64url(POINT + b"\x00")), "keys.p256dh"),
    ("p256dh not 0x04", _with("keys.p256dh", b64url(b"\x02" + POINT[1:])), "keys.p256dh"),
    ("p256dh compressed", _with("keys.p256dh", b64url(b"\x02" + POINT[1:33])), "keys.p256dh"),
    ("p256dh empty", _with("keys.p256dh", ""), "keys.p256dh"),
    ("auth 15 bytes", _with("keys.auth", b64url(os.urandom(15))), "keys.auth"),
    ("auth 17 bytes", _with("keys.auth", b64url(os.urandom(17))), "keys.auth"),
    ("auth 32 bytes", _with("keys.auth", b64url(os.urandom(32))), "keys.auth"),
    ("auth not base64", _with("keys.auth", "not base64 at all!"), "keys.auth"),
    ("auth bad padding", _with("keys.auth", "A" * 21 + "="), "keys.auth"),
    (
        "auth with junk that decodes to 16 bytes",
        _with("keys.auth", lambda v: v[:10] + "!!" + v[10:] + "=="),
        "keys.auth",
    ),
    (
        "p256dh with a dot inside",
        _with("keys.p256dh", lambda v: v[:20] + "." + v[20:] + "==="),
        "keys.p256dh",
    ),
    (
        "auth in standard base64",
        _with("keys.auth", "+/" * 11),
        "keys.auth",
    ),
    ("missing keys", _with("keys", ...), "keys"),
    ("missing p256dh", _with("keys.p256dh", ...), "keys.p256dh"),
    ("missing auth", _with("keys.auth", ...), "keys.auth"),
    ("missing endpoint", _with("endpoint", ...), "endpoint"),
    ("endpoint a number", _with("endpoint", 123), "endpoint"),
    ("endpoint null", _with("endpoint", None), "endpoint"),
    ("keys a string", _with("keys", "p256dh"), "keys"),
    ("keys a list", _with("keys", []), "keys"),
    ("keys null", _with("keys", None), "keys"),
    ("p256dh a number", _with("keys.p256dh", 4), "keys.p256dh"),
    ("auth a list", _with("keys.auth", ["x"]), "keys.auth"),
]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [pytest.param(m, f, id=name) for name, m, f in INVALID_SUBSCRIPTIONS],
)
def test_invalid_subscriptions_are_refused(app, login, world: World, mutate, field):
    bob = as_user(app, login, world.users["bob"])
    before = everything()
    body = assert_error(subscribe_push(bob, mutate(subscription_doc())), 422)
    assert field in body["errors"], body
    assert all(body["errors"][field])
    assert everything() == before
    assert subscription_rows() == []


@pytest.mark.parametrize("body", [[], "endpoint", 42, None])
def test_a_body_that_is_not_an_object_is_refused(app, login, world: World, body):
    bob = as_user(app, login, world.users["bob"])
    response = bob.post(
        f"{API}/push-subscribe",
        data=json.dumps(body),
        content_type="application/json",
        headers=JSON,
    )
    assert_error(response, 422)
    assert subscription_rows() == []


def test_non_json_and_malformed_json_are_refused(app, login, world: World):
    bob = as_user(app, login, world.users["bob"])
    doc = subscription_doc()
    form = bob.post(f"{API}/push-subscribe", data={"endpoint": doc["endpoint"]}, headers=JSON)
    assert_error(form, 415)
    malformed = bob.post(
        f"{API}/push-subscribe",
        data='{"endpoint": "https://push.example/x", "keys": {',
        content_type="application/json",
        headers=JSON,
    )
    assert_error(malformed, 400)
    empty = bob.post(f"{API}/push-subscribe", data="", content_type="application/json")
    assert empty.status_code in {400, 422}
    assert subscription_rows() == []


def test_unsubscribe_deactivates_ones_own_subscription(app, login, world: World):
    bob = as_user(app, login, world.users["bob"])
    mine, other = subscription_doc(), subscription_doc("https://fcm.googleapis.com/fcm/send/second")
    subscribe_push(bob, mine)
    subscribe_push(bob, other)
    response = bob.post(f"{API}/push-unsubscribe", json={"endpoint": mine["endpoint"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is True
    assert body["message"] == "Подписка на push-уведомления удалена"  # the default language
    rows = subscription_rows()
    assert [(row["endpoint"], row["is_active"]) for row in rows] == [
        (mine["endpoint"], False),
        (other["endpoint"], True),
    ]


def test_unsubscribing_someone_elses_or_an_unknown_endpoint_is_404(app, login, world: World):
    bob = as_user(app, login, world.users["bob"])
    doc = subscription_doc()
    subscribe_push(bob, doc)
    alice = as_user(app, login, world.users["alice"])
    before = everything()
    for endpoint in (doc["endpoint"], "https://push.example/unknown"):
        assert_error(alice.post(f"{API}/push-unsubscribe", json={"endpoint": endpoint}), 404)
    assert everything() == before
    assert subscription_rows()[0]["is_active"] is True


@pytest.mark.parametrize("body", [{}, {"endpoint": 5}, {"endpoint": None}])
def test_unsubscribe_with_an_invalid_body_is_422(app, login, world: World, body):
    bob = as_user(app, login, world.users["bob"])
    subscribe_push(bob, subscription_doc())
    before = everything()
    body = assert_error(bob.post(f"{API}/push-unsubscribe", json=body), 422)
    assert "endpoint" in body["errors"]
    assert everything() == before


# =============================================================================================
# Cross-origin writes
# =============================================================================================


CROSS_ORIGIN = [
    ("put", "/notifications/{id}/read", None),
    ("put", "/notifications/read-all", None),
    ("delete", "/notifications/{id}", None),
    ("post", "/push-subscribe", "subscription"),
    ("post", "/push-unsubscribe", {"endpoint": "https://fcm.googleapis.com/fcm/send/abc123"}),
    ("put", "/task/{task}/status", {"status_id": RESOLVED}),
    ("post", "/task/{task}/comments", {"notes": "from evil"}),
]


@pytest.mark.parametrize(
    "headers",
    [EVIL, {**JSON, "Sec-Fetch-Site": "cross-site"}, {**JSON, "Origin": "null"}],
    ids=["origin", "sec-fetch-site", "null-origin"],
)
@pytest.mark.parametrize(("method", "path", "body"), CROSS_ORIGIN)
def test_cross_origin_writes_are_403_and_change_nothing(
    app, login, world: World, login_task: int, method, path, body, headers
):
    bob = as_user(app, login, world.users["bob"])
    notification_id = add_notification(world.uid("bob"))
    assert subscribe_push(bob, subscription_doc()).status_code == 201
    if body == "subscription":
        body = subscription_doc()
    before = everything()
    url = API + path.format(id=notification_id, task=login_task)
    response = getattr(bob, method)(url, json=body, headers=headers)
    assert_error(response, 403)
    assert everything() == before
    assert notification_rows(id=notification_id)[0]["is_read"] is False


def test_a_same_origin_browser_write_is_accepted(app, login, world: World):
    bob = as_user(app, login, world.users["bob"])
    notification_id = add_notification(world.uid("bob"))
    response = bob.put(
        f"{API}/notifications/{notification_id}/read",
        json={},
        headers={**JSON, "Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 200
    assert notification_rows(id=notification_id)[0]["is_read"] is True
