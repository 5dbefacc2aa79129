"""The task API over every backend: the same HTTP calls, the same documents and the same error
answers whether tasks live in the helpdesk's tables or in a real Redmine (the contract worlds).

tests/integration/test_tasks_api.py holds the API to the seed's documents in detail on the local
store, whose rows it writes and reads directly (see LOCAL_ONLY in tests/conftest.py); these tests
are the part of it that a backend must keep, asked only through the API.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from conftest import PASSWORD
from contract_world import World
from helpers import JSON

API = "/tasks/api"


def signed_in(app: Flask, name: str) -> FlaskClient:
    """A client of its own, signed in as one of the world's people."""
    client = app.test_client()
    client.environ_base.update(HTTP_ACCEPT="application/json", HTTP_ACCEPT_LANGUAGE="en")
    response = client.post("/users/login", json={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    return client


def data(response: Any, status: int = 200) -> Any:
    """The envelope's data of a successful answer."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()["data"]


def error(response: Any, status: int) -> dict[str, Any]:
    """The body of a refusal, which is JSON with a message, never a 500."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body: dict[str, Any] = response.get_json()
    assert body["success"] is False
    assert body["message"]
    return body


def test_create_then_read_it_back_and_find_it_in_the_assignees_list(app, world: World) -> None:
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")
    created = data(
        alice.post(
            f"{API}/task",
            json={
                "project_id": world.projects["P2"],
                "subject": "Renew the certificate",
                "description": "Before Friday",
                "priority_id": 3,
                "assigned_to_id": world.actors["bob"].user_id,
                "due_date": "2026-12-31",
            },
        ),
        201,
    )
    task_id = created["task_id"]
    assert (created["subject"], created["status"], created["project"]) == (
        "Renew the certificate",
        "New",
        "Project Two",
    )
    assert created["assigned_to"] == "Bob Petrov"
    task = data(bob.get(f"{API}/task/{task_id}"))
    assert (task["author_id"], task["assigned_to_id"]) == (
        world.actors["alice"].user_id,
        world.actors["bob"].user_id,
    )
    assert (task["priority_name"], task["due_date"]) == ("High", "2026-12-31")
    assert world.actors["alice"].user_id in task["watcher_ids"]
    mine = data(bob.get(f"{API}/tasks", query_string={"assigned_to": "me"}))
    assert [row["id"] for row in mine["tasks"]] == [task_id]
    assert mine["pagination"]["total"] == 1


def test_list_filters_by_status_priority_project_and_words(app, world: World) -> None:
    alice = signed_in(app, "alice")
    low = world.create("alice", "P1", "Printer jam on floor two", priority_id=1).id
    high = world.create("alice", "P2", "VPN drops", priority_id=3).id
    done = world.create("alice", "P2", "Old printer ticket").id
    data(alice.put(f"{API}/task/{done}/status", json={"status_id": world.statuses["Closed"]}))

    def listed(**params: str) -> list[int]:
        found = data(alice.get(f"{API}/tasks", query_string={"sort": "id", **params}))
        assert found["pagination"]["total"] == len(found["tasks"]) or "page" in params
        return [row["id"] for row in found["tasks"]]

    assert listed() == [low, high]  # open ones by default
    assert listed(status="closed") == [done]
    assert listed(status="all") == [low, high, done]
    assert listed(status="Closed") == [done]  # a status by name
    assert listed(priority="High") == [high]
    assert listed(project="p-two", status="all") == [high, done]
    assert listed(project="Project One") == [low]
    assert listed(search="printer", status="all") == [low, done]
    assert listed(status="No such status") == []
    assert listed(per_page="1", page="2") == [high]


def test_status_change_answers_old_and_new_and_the_workflow_refuses_clearly(
    app, world: World
) -> None:
    carol = signed_in(app, "carol")
    task_id = world.create("alice", "P1", "Chair squeaks").id
    moved = data(
        carol.put(
            f"{API}/task/{task_id}/status",
            json={"status_id": world.statuses["In Progress"], "comment": "On it"},
        )
    )
    assert (moved["old_status"], moved["new_status"], moved["changed"]) == (
        "New",
        "In Progress",
        True,
    )
    assert moved["comment_added"] is True
    same = data(
        carol.put(f"{API}/task/{task_id}/status", json={"status_id": world.statuses["In Progress"]})
    )
    assert same["changed"] is False

    world.restrict("Reporter", "In Progress", ["Resolved"])
    refused = error(
        carol.put(f"{API}/task/{task_id}/status", json={"status_id": world.statuses["Closed"]}),
        422,
    )
    assert "Resolved" in refused["message"]
    unknown = error(carol.put(f"{API}/task/{task_id}/status", json={"status_id": 999}), 422)
    assert "status_id" in unknown["errors"]
    assert data(carol.get(f"{API}/task/{task_id}"))["status_name"] == "In Progress"


def test_comments_are_kept_in_order_and_an_empty_one_is_refused(app, world: World) -> None:
    bob = signed_in(app, "bob")
    task_id = world.create("alice", "P2", "Backup failed").id
    first = data(bob.post(f"{API}/task/{task_id}/comments", json={"notes": "Disk full"}), 201)
    assert (first["notes"], first["user_id"]) == ("Disk full", world.actors["bob"].user_id)
    data(bob.post(f"{API}/task/{task_id}/comments", json={"notes": "Cleaned up"}), 201)
    refused = error(bob.post(f"{API}/task/{task_id}/comments", json={"notes": "  "}), 422)
    assert "notes" in refused["errors"]
    history = data(bob.get(f"{API}/task/{task_id}/journals"))
    assert [(entry["notes"], entry["user_name"]) for entry in history] == [
        ("Disk full", "Bob Petrov"),
        ("Cleaned up", "Bob Petrov"),
    ]


def test_refusals_map_to_the_same_answers(app, world: World, make_user) -> None:
    task_id = world.create("alice", "P1", "Secret plans").id
    anonymous = app.test_client()
    assert error(anonymous.get(f"{API}/task/{task_id}", headers=JSON), 401)
    dave = signed_in(app, "dave")  # in no project
    error(dave.get(f"{API}/task/{task_id}"), 404)
    error(dave.put(f"{API}/task/{task_id}/status", json={"status_id": 2}), 404)
    error(dave.post(f"{API}/task/{task_id}/comments", json={"notes": "peek"}), 404)
    error(dave.get(f"{API}/task/987654"), 404)
    not_member = error(
        dave.post(f"{API}/task", json={"project_id": world.projects["P1"], "subject": "x"}), 422
    )
    assert "project_id" in not_member["errors"]
    alice = signed_in(app, "alice")
    blank = error(alice.post(f"{API}/task", json={"project_id": world.projects["P1"]}), 422)
    assert "subject" in blank["errors"]
    make_user("erin")  # no task access at all
    assert error(signed_in(app, "erin").get(f"{API}/task/{task_id}"), 403)


def test_lookups(app, world: World) -> None:
    alice = signed_in(app, "alice")
    statuses = data(alice.get(f"{API}/statuses"))
    assert [s["name"] for s in statuses][:2] == ["New", "In Progress"]
    assert {s["name"] for s in statuses if s["is_closed"]} >= {"Closed", "Rejected"}
    assert "Normal" in [p["name"] for p in data(alice.get(f"{API}/priorities"))]
    assert [t["name"] for t in data(alice.get(f"{API}/trackers"))][:3] == [
        "Bug",
        "Feature",
        "Support",
    ]
    assert [p["identifier"] for p in data(alice.get(f"{API}/projects"))] == ["p-one", "p-two"]
    members = data(alice.get(f"{API}/projects/{world.projects['P2']}/members"))
    assert [(m["user_id"], m["name"]) for m in members] == [
        (world.actors["alice"].user_id, "Alice Ivanova"),
        (world.actors["bob"].user_id, "Bob Petrov"),
    ]
    error(signed_in(app, "dave").get(f"{API}/projects/{world.projects['P2']}/members"), 404)
