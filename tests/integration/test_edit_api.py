"""Editing a task, its watchers and @mentions through the JSON API and the task page (local).

Every refusal is checked twice: the answer, and the database compared with a snapshot.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from task_api_support import (
    BUG,
    FEATURE,
    NORMAL,
    URGENT,
    World,
    as_user,
    assert_error,
    build_world,
    journals_of,
    snapshot,
    task_row,
)

from helpdesk.extensions import db
from helpdesk.notifications.models import Notifications
from helpers import JSON, fresh

API = "/tasks/api"


@pytest.fixture
def world(make_user) -> World:
    """Projects, members, a workflow and tasks (see task_api_support.build_world); everyone
    reads English (notifications are written in the recipient's language)."""
    built = build_world(make_user)
    for user in built.users.values():
        user.language = "en"
    db.session.commit()
    return built


def patch(client, task_id: int, body: Any, **kwargs: Any):
    return client.patch(f"{API}/task/{task_id}", json=body, headers=JSON, **kwargs)


def notifications_of(user_id: int) -> list[tuple[str, str, str, int]]:
    """A user's notifications as (type, title, message, task id), oldest first."""
    fresh()
    rows = db.session.execute(
        select(
            Notifications.type, Notifications.title, Notifications.message, Notifications.issue_id
        )
        .where(Notifications.user_id == user_id)
        .order_by(Notifications.id)
    ).all()
    db.session.rollback()
    return [tuple(row) for row in rows]


def test_a_patch_changes_the_fields_sent_journals_them_and_answers_the_task(
    client, login, world: World
) -> None:
    login(world.users["alice"])
    task_id = world.tasks["login"]
    before = client.get(f"{API}/task/{task_id}", headers=JSON).get_json()["data"]
    response = patch(
        client,
        task_id,
        {
            "subject": "Fix the login issue",
            "assigned_to_id": world.uid("bob"),
            "priority_id": URGENT,
            "tracker_id": FEATURE,
            "due_date": "2024-02-15",
            "estimated_hours": 6,
            "done_ratio": 40,
            "notes": "Replanned with Bob",
            "lock_version": before["lock_version"],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()["data"]
    assert data["changed"] is True
    assert data["task"]["subject"] == "Fix the login issue"
    assert data["task"]["assigned_to_id"] == world.uid("bob")
    assert data["task"]["lock_version"] > before["lock_version"]
    row = task_row(task_id)
    assert row is not None
    assert (row["subject"], row["priority_id"], row["tracker_id"]) == (
        "Fix the login issue",
        URGENT,
        FEATURE,
    )
    assert (str(row["due_date"]), row["estimated_hours"], row["done_ratio"]) == (
        "2024-02-15",
        6.0,
        40,
    )
    [journal] = journals_of(task_id)
    assert journal["notes"] == "Replanned with Bob"
    assert ("assigned_to_id", str(world.uid("alice")), str(world.uid("bob"))) in journal["details"]
    assert ("tracker_id", str(BUG), str(FEATURE)) in journal["details"]
    assert ("description", None, None) not in journal["details"]  # unsent fields stay
    assert {d["property"] for d in data["details"]} == {d[0] for d in journal["details"]}


def invalid(world: World) -> list[tuple[dict[str, Any], str]]:
    return [
        ({}, "body"),
        ({"subject": ""}, "subject"),
        ({"subject": None}, "subject"),
        ({"subject": "x" * 256}, "subject"),
        ({"priority_id": "3"}, "priority_id"),
        ({"priority_id": None}, "priority_id"),
        ({"priority_id": 999}, "priority_id"),
        ({"tracker_id": 999}, "tracker_id"),
        ({"done_ratio": 101}, "done_ratio"),
        ({"estimated_hours": -1}, "estimated_hours"),
        ({"due_date": "31.01.2024"}, "due_date"),
        ({"due_date": "2024-01-01"}, "due_date"),  # before the stored start date
        ({"start_date": "2024-03-02", "due_date": "2024-03-01"}, "due_date"),
        ({"assigned_to_id": world.uid("rita")}, "assigned_to_id"),  # a reporter takes no tasks
        ({"assigned_to_id": world.uid("dave")}, "assigned_to_id"),  # no member
        ({"assigned_to_id": 0}, "assigned_to_id"),
        ({"custom_fields": [{"id": 999, "value": "x"}]}, "custom_fields"),
        ({"custom_fields": "ACME"}, "custom_fields"),
        ({"subject": "ok", "lock_version": -1}, "lock_version"),
        ({"subject": "ok", "lock_version": "1"}, "lock_version"),
    ]


def test_bad_input_gets_a_422_by_field_and_writes_nothing(client, login, world: World) -> None:
    login(world.users["alice"])
    for body, field in invalid(world):
        before = snapshot()
        answer = assert_error(patch(client, world.tasks["login"], body), 422)
        assert field in answer["errors"], (body, answer)
        assert snapshot() == before, body


def test_a_body_that_is_not_json_is_refused(client, login, world: World) -> None:
    login(world.users["alice"])
    before = snapshot()
    url = f"{API}/task/{world.tasks['login']}"
    assert_error(client.patch(url, data="subject=x", headers=JSON), 415)
    assert_error(
        client.patch(url, data="{", headers={**JSON, "Content-Type": "application/json"}), 400
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("who", "task", "status"),
    [
        ("alice", "bobinfra", 404),  # not a member of its project
        ("dave", "login", 404),
        ("alice", "no-such-task", 404),
        ("carol", "login", 403),  # no task access
    ],
)
def test_other_peoples_tasks_cannot_be_edited(
    client, login, world: World, who: str, task: str, status: int
) -> None:
    login(world.users[who])
    before = snapshot()
    assert_error(patch(client, world.tasks.get(task, 999_999), {"subject": "Mine"}), status)
    assert snapshot() == before


def test_a_stale_lock_version_is_a_409_showing_the_other_persons_change(
    app, client, login, world: World
) -> None:
    login(world.users["alice"])
    task_id = world.tasks["login"]
    seen = client.get(f"{API}/task/{task_id}", headers=JSON).get_json()["data"]["lock_version"]
    bob = as_user(app, login, world.users["bob"])
    assert patch(bob, task_id, {"subject": "Bob's words", "lock_version": seen}).status_code == 200
    before = snapshot()
    answer = assert_error(patch(client, task_id, {"subject": "Alice's", "lock_version": seen}), 409)
    assert answer["task"]["subject"] == "Bob's words"
    assert answer["task"]["lock_version"] != seen
    assert answer["last_change"]["user_name"] == "Bob Jones"
    assert answer["last_change"]["details"] == [
        {"property": "subject", "old_value": "Fix login issue", "new_value": "Bob's words"}
    ]
    assert snapshot() == before
    again = patch(
        client, task_id, {"subject": "Alice's", "lock_version": answer["task"]["lock_version"]}
    )
    assert again.status_code == 200


def test_an_edit_tells_the_tasks_people_and_the_new_assignee(
    app, client, login, world: World
) -> None:
    login(world.users["alice"])
    task_id = world.tasks["login"]  # bob wrote it, alice works on it
    response = patch(
        client, task_id, {"due_date": "2024-02-20", "assigned_to_id": world.uid("bob")}
    )
    assert response.status_code == 200
    assert notifications_of(world.uid("bob")) == [
        ("assigned", f"Task #{task_id} assigned to you", "Fix login issue", task_id)
    ]
    watchers = f"{API}/task/{task_id}/watchers"
    assert (
        client.post(watchers, json={"user_id": world.uid("alice")}, headers=JSON).status_code == 200
    )
    bob = as_user(app, login, world.users["bob"])
    assert patch(bob, task_id, {"done_ratio": 50, "due_date": None}).status_code == 200
    [(kind, title, message, _task)] = notifications_of(world.uid("alice"))  # a watcher now
    assert (kind, title) == ("task_updated", f"Task #{task_id} updated")
    assert message == "Bob Jones changed: Due date, Done"


def test_a_mention_tells_only_those_who_may_see_the_task(app, client, login, world: World) -> None:
    login(world.users["alice"])
    web_task = world.tasks["unassigned"]  # in Web Portal: alice, bob and rita are members
    response = client.post(
        f"{API}/task/{web_task}/comments",
        json={"notes": "@rita can you check? cc @Dave and @nobody, mail x@bob.org"},
        headers=JSON,
    )
    assert response.status_code == 201
    [(kind, title, message, task)] = notifications_of(world.uid("rita"))
    assert (kind, title, task) == (
        "mention",
        f"Alice Smith mentioned you on task #{web_task}",
        web_task,
    )
    assert message.startswith("@rita can you check?")
    assert notifications_of(world.uid("dave")) == []  # no member: the task stays unknown to him
    # bob, the author, hears of the comment as always (not of a mention: bob@ is an address)
    assert [n[0] for n in notifications_of(world.uid("bob"))] == ["comment"]
    bob = as_user(app, login, world.users["bob"])
    secret = world.tasks["bobinfra"]  # Infrastructure: alice is no member
    assert (
        bob.post(
            f"{API}/task/{secret}/comments", json={"notes": "ask @alice"}, headers=JSON
        ).status_code
        == 201
    )
    assert all(n[3] != secret for n in notifications_of(world.uid("alice")))


def test_a_description_edit_tells_only_the_newly_mentioned(client, login, world: World) -> None:
    login(world.users["alice"])
    task_id = world.tasks["report"]
    assert patch(client, task_id, {"description": "Numbers for @bob"}).status_code == 200
    assert [n[0] for n in notifications_of(world.uid("bob"))] == ["mention"]
    assert patch(client, task_id, {"description": "Numbers for @bob, again"}).status_code == 200
    assert [n[0] for n in notifications_of(world.uid("bob"))] == ["mention"]  # nothing new


def test_watchers_yourself_and_others_when_your_role_allows(
    app, client, login, world: World
) -> None:
    login(world.users["alice"])
    task_id = world.tasks["bobweb"]
    url = f"{API}/task/{task_id}/watchers"
    doc = client.get(url, headers=JSON).get_json()["data"]
    assert doc["watching"] is False
    assert doc["may_manage"] is True
    doc = client.post(url, json={"user_id": world.uid("alice")}, headers=JSON).get_json()["data"]
    assert doc["watching"] is True
    doc = client.post(url, json={"user_id": world.uid("rita")}, headers=JSON).get_json()["data"]
    assert {w["name"] for w in doc["watchers"]} == {"Alice Smith", "Rita Reporter"}
    rita = as_user(app, login, world.users["rita"])
    before = snapshot()
    assert_error(rita.delete(f"{url}/{world.uid('alice')}", headers=JSON), 403)  # a reporter
    assert_error(rita.post(url, json={"user_id": world.uid("bob")}, headers=JSON), 403)
    assert_error(client.post(url, json={"user_id": world.uid("dave")}, headers=JSON), 422)
    assert_error(client.post(url, json={"user_id": "x"}, headers=JSON), 422)
    assert_error(client.post(url, json={}, headers=JSON), 422)
    assert_error(
        client.post(
            f"{API}/task/{world.tasks['bobinfra']}/watchers",
            json={"user_id": world.uid("alice")},
            headers=JSON,
        ),
        404,
    )
    assert snapshot() == before
    doc = rita.delete(f"{url}/{world.uid('rita')}", headers=JSON).get_json()["data"]
    assert doc["watching"] is False  # herself: always
    # a watcher hears of changes as before
    client.post(f"{API}/task/{task_id}/comments", json={"notes": "Looking"}, headers=JSON)
    assert [n[0] for n in notifications_of(world.uid("rita"))] == ["watcher"]  # alice added her
    rita.post(url, json={"user_id": world.uid("rita")}, headers=JSON)
    client.post(f"{API}/task/{task_id}/comments", json={"notes": "Still"}, headers=JSON)
    assert [n[0] for n in notifications_of(world.uid("rita"))] == ["watcher", "comment"]


def test_people_to_mention_are_the_projects_members(client, login, world: World) -> None:
    login(world.users["alice"])
    url = f"{API}/projects/{world.projects['web']}/people"
    found = client.get(url, query_string={"q": "ri"}, headers=JSON).get_json()["data"]
    assert found == [{"user_id": world.uid("rita"), "username": "rita", "name": "Rita Reporter"}]
    everyone = client.get(url, headers=JSON).get_json()["data"]
    assert {p["username"] for p in everyone} == {"alice", "bob", "rita"}
    assert_error(client.get(f"{API}/projects/{world.projects['infra']}/people", headers=JSON), 404)


def test_the_task_page_offers_the_edit_form_watchers_and_a_readable_history(
    client, login, world: World
) -> None:
    world.users["alice"].language = "ru"
    db.session.commit()
    login(world.users["alice"])
    task_id = world.tasks["login"]
    patch(client, task_id, {"assigned_to_id": world.uid("bob"), "priority_id": NORMAL})
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'id="task-edit-form"' in page
    assert "Исполнитель: Alice Smith → <strong>Bob Jones</strong>" in page
    assert 'id="task-watchers"' in page
    assert "selected>В работе" in page  # the status form stands on the current status


def test_the_new_task_form_offers_the_chosen_projects_members_only(
    client, login, world: World
) -> None:
    login(world.users["alice"])
    page = client.get("/tasks/new").get_data(as_text=True)
    select = page[
        page.index('id="assigned_to_id"') : page.index(
            "</select>", page.index('id="assigned_to_id"')
        )
    ]
    # Alice's projects by name: Service Desk (alice only) comes before Web Portal
    assert "Bob Jones" not in select.split("data-members")[0]
    assert "Alice Smith" in select


def test_notes_alone_are_a_comment_and_tell_as_one(client, login, world: World) -> None:
    login(world.users["alice"])
    task_id = world.tasks["login"]  # bob wrote it
    response = patch(client, task_id, {"notes": "Just a word, @rita"})
    assert response.status_code == 200
    assert response.get_json()["data"]["details"] == []
    assert [n[0] for n in notifications_of(world.uid("bob"))] == ["comment"]
    assert [n[0] for n in notifications_of(world.uid("rita"))] == ["mention"]
