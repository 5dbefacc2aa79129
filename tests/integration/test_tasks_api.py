"""The task JSON API under /tasks/api and the JSON face of /tasks/my-tasks (local backend).

Every refusal is checked twice: the answer (status code and JSON body) and the database (the rows
are re-read and compared with a snapshot taken before the request).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from task_api_support import (
    CLOSED,
    FEEDBACK,
    HIGH,
    IN_PROGRESS,
    NEW,
    NORMAL,
    REJECTED,
    RESOLVED,
    SUPPORT,
    World,
    as_user,
    assert_error,
    build_world,
    counts,
    journals_of,
    record_status_events,
    snapshot,
    task_row,
)

from conftest import BROWSER, csrf_token_from
from helpdesk.core.events import subscribe
from helpdesk.extensions import db
from helpdesk.tasks.backends.local import LocalBackend
from helpdesk.tasks.events import TaskStatusChanged
from helpdesk.tasks.models import CustomField, CustomValue, Task, Watcher
from helpers import JSON, committed_rows, fresh

API = "/tasks/api"


@pytest.fixture
def world(make_user) -> World:
    """Projects, members, a workflow and tasks (see task_api_support.build_world)."""
    return build_world(make_user)


@pytest.fixture
def status_events(app):
    """TaskStatusChanged events delivered during the test."""
    return record_status_events(app)


def task_url(task_id: int) -> str:
    return f"{API}/task/{task_id}"


def put_status(client, task_id: int, body, **kwargs):
    """PUT a status change as a script would (JSON body, no browser headers)."""
    return client.put(f"{task_url(task_id)}/status", json=body, headers=JSON, **kwargs)


# =============================================================================================
# GET /tasks/api/task/<id>
# =============================================================================================


def test_get_task_answers_the_seed_document(client, login, world: World):
    login(world.users["alice"])
    response = client.get(task_url(world.tasks["login"]), headers=JSON)
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    assert isinstance(body["execution_time"], int | float)
    assert 0 <= body["execution_time"] < 60
    expected = {
        "id": world.tasks["login"],
        "subject": "Fix login issue",
        "description": "About: Fix login issue",
        "status_id": IN_PROGRESS,
        "status_name": "In Progress",
        "priority_id": HIGH,
        "priority_name": "High",
        "project_id": world.projects["web"],
        "project_name": "Web Portal",
        "assigned_to_id": world.uid("alice"),
        "assigned_to_name": "Alice Smith",
        "start_date": "2024-01-15",
        "due_date": "2024-01-30",
        "created_on": "2024-01-14T10:00:00Z",
        "updated_on": "2024-01-15T10:00:00Z",
    }
    assert {key: body["data"][key] for key in expected} == expected
    assert body["data"]["author_name"] == "Bob Jones"
    assert body["data"]["estimated_hours"] == 8.0
    assert body["data"]["is_closed"] is False


def test_get_unassigned_task_has_null_assignee(client, login, world: World):
    login(world.users["bob"])
    data = client.get(task_url(world.tasks["unassigned"]), headers=JSON).get_json()["data"]
    assert data["assigned_to_id"] is None
    assert data["assigned_to_name"] is None
    assert data["start_date"] is None
    assert data["due_date"] is None


def test_get_task_anonymous_is_json_401(client, world: World):
    for headers in (JSON, {"Accept": "text/html"}, {}):
        response = client.get(task_url(world.tasks["login"]), headers=headers)
        body = assert_error(response, 401)
        assert body["status_code"] == 401
        assert "Fix login issue" not in response.get_data(as_text=True)


def test_get_task_is_403_for_a_user_without_task_access(client, login, world: World):
    login(world.users["carol"])
    body = assert_error(client.get(task_url(world.tasks["login"]), headers=JSON), 403)
    assert "Fix login issue" not in json.dumps(body)


def test_get_unknown_task_is_404(client, login, world: World):
    login(world.users["alice"])
    assert_error(client.get(task_url(999_999), headers=JSON), 404)


def test_get_task_of_a_project_the_user_is_not_in_is_404(client, login, world: World):
    """alice is assigned the task but is not a member of Infrastructure: it does not exist."""
    login(world.users["alice"])
    response = client.get(task_url(world.tasks["hidden"]), headers=JSON)
    body = assert_error(response, 404)
    assert "Hidden infra" not in json.dumps(body)
    # The same message as for a task that does not exist, so ids cannot be probed.
    unknown = client.get(task_url(999_999), headers=JSON).get_json()
    assert body["message"].replace(str(world.tasks["hidden"]), "#") == unknown["message"].replace(
        "999999", "#"
    )


def test_admin_sees_tasks_of_every_project(client, login, world: World):
    login(world.users["admin"])
    response = client.get(task_url(world.tasks["hidden"]), headers=JSON)
    assert response.status_code == 200
    assert response.get_json()["data"]["subject"] == "Hidden infra task for alice"


# =============================================================================================
# PUT /tasks/api/task/<id>/status
# =============================================================================================


def test_status_change_answers_old_and_new_and_writes_a_journal(client, login, world: World):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    before = task_row(task_id)
    response = put_status(
        client, task_id, {"status_id": RESOLVED, "comment": "Done and tested", "notify_users": True}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is True
    assert body["message"]
    assert isinstance(body["execution_time"], int | float)
    data = body["data"]
    assert data["task_id"] == task_id
    assert data["old_status"] == "In Progress"
    assert data["new_status"] == "Resolved"
    assert data["old_status_id"] == IN_PROGRESS
    assert data["new_status_id"] == RESOLVED
    assert data["changed"] is True
    assert data["comment_added"] is True
    assert data["notifications_sent"] == 1  # bob, the author; never alice, who acted
    row = task_row(task_id)
    assert row["status_id"] == RESOLVED
    assert row["updated_on"] > before["updated_on"]
    assert row["closed_on"] is None
    assert journals_of(task_id) == [
        {
            "id": journals_of(task_id)[0]["id"],
            "user_id": world.uid("alice"),
            "notes": "Done and tested",
            "details": [("status_id", str(IN_PROGRESS), str(RESOLVED))],
        }
    ]


def test_status_change_without_comment(client, login, world: World):
    login(world.users["alice"])
    task_id = world.tasks["report"]
    response = put_status(client, task_id, {"status_id": IN_PROGRESS})
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert (data["old_status"], data["new_status"]) == ("New", "In Progress")
    assert data["comment_added"] is False
    journals = journals_of(task_id)
    assert len(journals) == 1
    assert journals[0]["notes"] == ""
    assert journals[0]["details"] == [("status_id", str(NEW), str(IN_PROGRESS))]


def test_whitespace_comment_counts_as_no_comment(client, login, world: World):
    login(world.users["alice"])
    task_id = world.tasks["report"]
    response = put_status(client, task_id, {"status_id": IN_PROGRESS, "comment": "   "})
    assert response.status_code == 200
    assert response.get_json()["data"]["comment_added"] is False
    assert journals_of(task_id)[0]["notes"] == ""


def test_closing_a_task_sets_closed_on(client, login, world: World):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    response = put_status(client, task_id, {"status_id": CLOSED})
    assert response.status_code == 200
    row = task_row(task_id)
    assert row["status_id"] == CLOSED
    assert row["closed_on"] is not None
    detail = client.get(task_url(task_id), headers=JSON).get_json()["data"]
    assert detail["is_closed"] is True
    assert detail["closed_on"] is not None


def test_same_status_is_changed_false_and_touches_nothing(client, login, world: World):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    before = snapshot()
    response = put_status(client, task_id, {"status_id": IN_PROGRESS})
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert data["changed"] is False
    assert data["old_status"] == data["new_status"] == "In Progress"
    assert data["comment_added"] is False
    assert snapshot() == before


def test_same_status_with_comment_records_only_the_comment(client, login, world: World):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    response = put_status(client, task_id, {"status_id": IN_PROGRESS, "comment": "Still on it"})
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert data["changed"] is False
    assert data["comment_added"] is True
    assert task_row(task_id)["status_id"] == IN_PROGRESS
    journals = journals_of(task_id)
    assert [(j["notes"], j["details"]) for j in journals] == [("Still on it", [])]


def test_status_the_role_may_not_choose_is_422_naming_the_allowed_ones(client, login, world):
    """rita is a Reporter in Web Portal; her role may only go New -> In Progress."""
    login(world.users["rita"])
    task_id = world.tasks["unassigned"]
    before = snapshot()
    response = put_status(client, task_id, {"status_id": CLOSED, "comment": "closing"})
    body = assert_error(response, 422)
    assert body["allowed_statuses"] == [{"id": IN_PROGRESS, "name": "In Progress"}]
    assert "In Progress" in body["message"]
    assert snapshot() == before


def test_reporter_may_make_the_transitions_of_the_workflow(client, login, world: World):
    login(world.users["rita"])
    task_id = world.tasks["unassigned"]
    allowed = client.get(f"{task_url(task_id)}/allowed-statuses", headers=JSON)
    assert allowed.status_code == 200
    assert allowed.get_json()["data"] == [
        {"id": IN_PROGRESS, "name": "In Progress", "is_closed": False}
    ]
    assert put_status(client, task_id, {"status_id": IN_PROGRESS}).status_code == 200
    # From In Progress, the workflow allows Resolved only.
    assert [
        s["id"] for s in client.get(f"{task_url(task_id)}/allowed-statuses").get_json()["data"]
    ] == [RESOLVED]
    before = snapshot()
    assert_error(put_status(client, task_id, {"status_id": NEW}), 422)
    assert snapshot() == before
    assert put_status(client, task_id, {"status_id": RESOLVED}).status_code == 200
    assert task_row(task_id)["status_id"] == RESOLVED


def test_developer_without_workflow_rows_may_choose_any_other_status(client, login, world):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    data = client.get(f"{task_url(task_id)}/allowed-statuses", headers=JSON).get_json()["data"]
    assert [s["id"] for s in data] == [NEW, RESOLVED, FEEDBACK, CLOSED, REJECTED]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status_id": "3"}, "status_id"),
        ({"status_id": True}, "status_id"),
        ({"status_id": False}, "status_id"),
        ({"status_id": None}, "status_id"),
        ({"status_id": -1}, "status_id"),
        ({"status_id": 0}, "status_id"),
        ({"status_id": 2**31}, "status_id"),
        ({"status_id": 10**30}, "status_id"),
        ({"status_id": 3.5}, "status_id"),
        ({"status_id": [3]}, "status_id"),
        ({"status_id": {"id": 3}}, "status_id"),
        ({}, "status_id"),
        ({"comment": "no status"}, "status_id"),
        ({"status_id": 3, "comment": 5}, "comment"),
        ({"status_id": 3, "comment": "x" * 65_536}, "comment"),
        ({"status_id": 3, "notify_users": "yes"}, "notify_users"),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_status_body_with_wrong_fields_is_422_and_changes_nothing(
    client, login, world, body, field
):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    before = snapshot()
    response = put_status(client, task_id, body)
    payload = assert_error(response, 422)
    assert field in payload["errors"], payload["errors"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("status_id=3", "application/x-www-form-urlencoded", 415),
        ('{"status_id": 3}', "text/plain", 415),
        ('{"status_id": 3}', None, 415),
        ('{"status_id": 3', "application/json", 400),
        ("{'status_id': 3}", "application/json", 400),
        ("", "application/json", 400),
        ("[1, 2]", "application/json", 422),
        ('"3"', "application/json", 422),
        ("3", "application/json", 422),
        ("null", "application/json", 422),
    ],
)
def test_status_body_that_is_not_a_json_object_is_refused(
    client, login, world, data, content_type, status
):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    before = snapshot()
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.put(f"{task_url(task_id)}/status", data=data, headers=JSON, **kwargs)
    assert_error(response, status)
    assert snapshot() == before


def test_unknown_status_id_is_422(client, login, world: World):
    login(world.users["alice"])
    before = snapshot()
    body = assert_error(put_status(client, world.tasks["login"], {"status_id": 99}), 422)
    assert "status_id" in body["errors"]
    assert snapshot() == before


def test_status_change_of_an_invisible_or_unknown_task_is_404(client, login, world: World):
    login(world.users["alice"])
    before = snapshot()
    assert_error(put_status(client, world.tasks["hidden"], {"status_id": RESOLVED}), 404)
    assert_error(put_status(client, 999_999, {"status_id": RESOLVED}), 404)
    assert snapshot() == before


def test_status_change_needs_login_and_task_access(client, login, world: World):
    before = snapshot()
    assert_error(put_status(client, world.tasks["login"], {"status_id": RESOLVED}), 401)
    login(world.users["carol"])
    assert_error(put_status(client, world.tasks["login"], {"status_id": RESOLVED}), 403)
    assert snapshot() == before


def test_admin_may_change_a_task_of_any_project(client, login, world: World):
    login(world.users["admin"])
    response = put_status(client, world.tasks["bobinfra"], {"status_id": REJECTED})
    assert response.status_code == 200
    assert task_row(world.tasks["bobinfra"])["status_id"] == REJECTED


# =============================================================================================
# POST /tasks/api/task
# =============================================================================================


def create(client, body):
    return client.post(f"{API}/task", json=body, headers=JSON)


def custom_field_id() -> int:
    fresh()
    return db.session.scalar(select(CustomField.id).where(CustomField.name == "Customer"))


def test_create_task_answers_201_with_the_seed_summary(client, login, world: World):
    login(world.users["alice"])
    cf = custom_field_id()
    before = counts()
    body = {
        "subject": "Implement user dashboard",
        "description": "Create a dashboard with task overview",
        "project_id": world.projects["web"],
        "tracker_id": 2,
        "status_id": NEW,
        "priority_id": 2,
        "assigned_to_id": world.uid("bob"),
        "start_date": "2024-01-15",
        "due_date": "2024-02-15",
        "estimated_hours": 16.0,
        "custom_fields": [{"id": cf, "value": "ACME"}],
    }
    response = create(client, body)
    assert response.status_code == 201, response.get_data(as_text=True)
    payload = response.get_json()
    assert payload["success"] is True
    assert payload["message"]
    data = payload["data"]
    task_id = data["task_id"]
    assert isinstance(task_id, int)
    assert data["subject"] == "Implement user dashboard"
    assert data["status"] == "New"
    assert data["assigned_to"] == "Bob Jones"
    assert data["project"] == "Web Portal"
    assert datetime.fromisoformat(data["created_on"].removesuffix("Z"))
    assert data["created_on"].endswith("Z")
    assert data["task"]["id"] == task_id
    assert data["task"]["custom_fields"] == [{"id": cf, "name": "Customer", "value": "ACME"}]

    row = task_row(task_id)
    assert row["project_id"] == world.projects["web"]
    assert row["author_id"] == world.uid("alice")
    assert row["assigned_to_id"] == world.uid("bob")
    assert (row["tracker_id"], row["status_id"], row["priority_id"]) == (2, NEW, 2)
    assert str(row["start_date"]) == "2024-01-15"
    assert str(row["due_date"]) == "2024-02-15"
    assert row["estimated_hours"] == 16.0
    assert row["description"] == "Create a dashboard with task overview"
    after = counts()
    assert after["tasks"] == before["tasks"] + 1
    assert after["custom_values"] == before["custom_values"] + 1
    fresh()
    assert (
        db.session.scalar(select(CustomValue.value).where(CustomValue.task_id == task_id)) == "ACME"
    )
    assert db.session.get(Watcher, (task_id, world.uid("alice"))) is not None
    # The task can be read back through the API.
    assert (
        client.get(task_url(task_id), headers=JSON).get_json()["data"]["subject"] == body["subject"]
    )


def test_create_task_with_only_project_and_subject_uses_defaults(client, login, world: World):
    login(world.users["alice"])
    response = create(client, {"project_id": world.projects["desk"], "subject": "  Trim me  "})
    assert response.status_code == 201, response.get_data(as_text=True)
    row = task_row(response.get_json()["data"]["task_id"])
    assert row["subject"] == "Trim me"
    assert (row["tracker_id"], row["status_id"], row["priority_id"]) == (1, NEW, NORMAL)
    assert row["description"] == ""
    assert row["assigned_to_id"] is None
    assert response.get_json()["data"]["assigned_to"] is None


def test_create_task_accepts_whole_hours_and_a_255_character_subject(client, login, world):
    login(world.users["alice"])
    body = {"project_id": world.projects["web"], "subject": "s" * 255, "estimated_hours": 8}
    response = create(client, body)
    assert response.status_code == 201, response.get_data(as_text=True)
    row = task_row(response.get_json()["data"]["task_id"])
    assert row["estimated_hours"] == 8.0
    assert len(row["subject"]) == 255


def test_admin_may_create_in_a_project_they_are_not_a_member_of(client, login, world: World):
    login(world.users["admin"])
    response = create(client, {"project_id": world.projects["infra"], "subject": "Admin task"})
    assert response.status_code == 201


def valid(w: World, **fields):
    """A valid new task for alice in Web Portal, with some fields replaced."""
    return {"project_id": w.projects["web"], "subject": "T", **fields}


def without(body: dict, key: str) -> dict:
    return {k: v for k, v in body.items() if k != key}


INVALID_CREATE = [
    ("missing subject", lambda w: without(valid(w), "subject"), "subject"),
    ("blank subject", lambda w: valid(w, subject="   "), "subject"),
    ("long subject", lambda w: valid(w, subject="x" * 256), "subject"),
    ("subject not text", lambda w: valid(w, subject=5), "subject"),
    ("missing project", lambda w: without(valid(w), "project_id"), "project_id"),
    ("project as text", lambda w: valid(w, project_id=str(w.projects["web"])), "project_id"),
    ("unknown project", lambda w: valid(w, project_id=999_999), "project_id"),
    ("non-member project", lambda w: valid(w, project_id=w.projects["infra"]), "project_id"),
    ("unknown tracker", lambda w: valid(w, tracker_id=99), "tracker_id"),
    ("unknown status", lambda w: valid(w, status_id=99), "status_id"),
    ("unknown priority", lambda w: valid(w, priority_id=99), "priority_id"),
    ("unknown assignee", lambda w: valid(w, assigned_to_id=999_999), "assigned_to_id"),
    ("assignee not a member", lambda w: valid(w, assigned_to_id=w.uid("dave")), "assigned_to_id"),
    (
        "assignee of another project",
        lambda w: valid(w, project_id=w.projects["desk"], assigned_to_id=w.uid("bob")),
        "assigned_to_id",
    ),
    ("reporter assignee", lambda w: valid(w, assigned_to_id=w.uid("rita")), "assigned_to_id"),
    ("bad due date", lambda w: valid(w, due_date="2024-13-45"), "due_date"),
    ("bad start date", lambda w: valid(w, start_date="tomorrow"), "start_date"),
    ("date as number", lambda w: valid(w, due_date=20240101), "due_date"),
    (
        "due before start",
        lambda w: valid(w, start_date="2024-02-10", due_date="2024-02-01"),
        "due_date",
    ),
    ("negative hours", lambda w: valid(w, estimated_hours=-1), "estimated_hours"),
    ("hours as text", lambda w: valid(w, estimated_hours="8"), "estimated_hours"),
    (
        "unknown custom field",
        lambda w: valid(w, custom_fields=[{"id": 999, "value": "x"}]),
        "custom_fields",
    ),
    (
        "custom value too long",
        lambda w: valid(w, custom_fields=[{"id": custom_field_id(), "value": "x" * 21}]),
        "custom_fields",
    ),
    ("custom fields not a list", lambda w: valid(w, custom_fields={"1": "x"}), "custom_fields"),
]


@pytest.mark.parametrize(
    ("make_body", "field"),
    [case[1:] for case in INVALID_CREATE],
    ids=[c[0] for c in INVALID_CREATE],
)
def test_create_task_refusals_name_the_field_and_create_nothing(
    client, login, world, make_body, field
):
    login(world.users["alice"])
    body = make_body(world)
    before = snapshot()
    response = create(client, body)
    payload = assert_error(response, 422)
    assert field in payload["errors"], payload
    assert all(isinstance(m, str) and m for m in payload["errors"][field])
    assert snapshot() == before


def test_create_task_reports_every_backend_problem_at_once(client, login, world: World):
    login(world.users["alice"])
    body = {
        "project_id": world.projects["web"],
        "subject": "T",
        "tracker_id": 99,
        "priority_id": 98,
        "assigned_to_id": world.uid("dave"),
    }
    payload = assert_error(create(client, body), 422)
    assert {"tracker_id", "priority_id", "assigned_to_id"} <= set(payload["errors"])


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("subject=T&project_id=1", "application/x-www-form-urlencoded", 415),
        ('{"subject": "T"', "application/json", 400),
        ("[]", "application/json", 422),
    ],
)
def test_create_task_body_must_be_a_json_object(client, login, world, data, content_type, status):
    login(world.users["alice"])
    before = snapshot()
    response = client.post(f"{API}/task", data=data, content_type=content_type, headers=JSON)
    assert_error(response, status)
    assert snapshot() == before


def test_create_task_needs_login_and_task_access(client, login, world: World):
    body = {"project_id": world.projects["web"], "subject": "T"}
    before = snapshot()
    assert_error(create(client, body), 401)
    login(world.users["carol"])
    assert_error(create(client, body), 403)
    assert snapshot() == before


# =============================================================================================
# GET /tasks/my-tasks (JSON)
# =============================================================================================


def my_tasks(client, **params):
    return client.get("/tasks/my-tasks", query_string=params, headers=JSON)


def subjects(document) -> list[str]:
    return [task["subject"] for task in document["tasks"]]


SHORT_NAMES = {
    "R": "Reset_password flow",
    "F": "Fix login issue",
    "V": "VPN drops every hour",
    "E": "Export 50% report",
    "P": "Closed printer ticket",
}


def names(letters: str) -> list[str]:
    """alice's task subjects by initial, in the given order."""
    return [SHORT_NAMES[letter] for letter in letters]


ALICE_OPEN_BY_DEFAULT_SORT = [
    "Reset_password flow",  # Immediate
    "Fix login issue",  # High
    "VPN drops every hour",  # Normal
    "Export 50% report",  # Low
]


def test_my_tasks_json_is_the_seed_document(client, login, world: World):
    login(world.users["alice"])
    response = my_tasks(client)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    doc = response.get_json()
    assert set(doc) >= {"tasks", "pagination", "filters"}
    assert doc["pagination"] == {"page": 1, "per_page": 25, "total": 4, "pages": 1}
    assert doc["filters"]["status"] is None
    assert doc["filters"]["priority"] is None
    assert doc["filters"]["project"] is None
    assert subjects(doc) == ALICE_OPEN_BY_DEFAULT_SORT
    login_task = next(t for t in doc["tasks"] if t["id"] == world.tasks["login"])
    assert {
        key: login_task[key]
        for key in ("id", "subject", "status", "priority", "project", "due_date", "assigned_to")
    } == {
        "id": world.tasks["login"],
        "subject": "Fix login issue",
        "status": "In Progress",
        "priority": "High",
        "project": "Web Portal",
        "due_date": "2024-01-30",
        "assigned_to": "Alice Smith",
    }


def test_my_tasks_lists_only_own_tasks_in_visible_projects(client, login, world: World):
    login(world.users["alice"])
    doc = my_tasks(client, status="all").get_json()
    ids = {t["id"] for t in doc["tasks"]}
    assert ids == {
        world.tasks[k] for k in ("login", "report", "printer", "reset", "vpn")
    }  # not "hidden" (Infrastructure), not bob's, not unassigned
    assert doc["pagination"]["total"] == 5
    assert all(t["assigned_to"] == "Alice Smith" for t in doc["tasks"])


def test_my_tasks_for_admin_lists_own_assigned_tasks_only(client, login, world: World):
    login(world.users["admin"])
    doc = my_tasks(client, status="all").get_json()
    assert doc["tasks"] == []
    assert doc["pagination"]["total"] == 0


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, ALICE_OPEN_BY_DEFAULT_SORT),
        ("open", ALICE_OPEN_BY_DEFAULT_SORT),
        ("closed", ["Closed printer ticket"]),
        ("all", names("RFVPE")),
        ("In Progress", ["Fix login issue", "VPN drops every hour"]),
        ("in progress", ["Fix login issue", "VPN drops every hour"]),
        ("Feedback", ["Reset_password flow"]),
        ("No such status", []),
    ],
)
def test_my_tasks_status_filter(client, login, world, status, expected):
    login(world.users["alice"])
    params = {"status": status} if status is not None else {}
    response = my_tasks(client, **params)
    assert response.status_code == 200
    doc = response.get_json()
    assert subjects(doc) == expected
    assert doc["pagination"]["total"] == len(expected)
    assert doc["filters"]["status"] == status


def test_a_status_named_closed_is_not_the_closed_group(client, login, world):
    """status=Closed is the seed's filter by name: the Rejected task is closed but not Closed."""
    alice = world.uid("alice")
    db.session.add(
        Task(
            project_id=world.projects["desk"],
            tracker_id=1,
            status_id=REJECTED,
            priority_id=2,
            author_id=alice,
            assigned_to_id=alice,
            subject="Rejected duplicate",
            description="",
        )
    )
    db.session.commit()
    login(world.users["alice"])
    assert subjects(my_tasks(client, status="Closed").get_json()) == ["Closed printer ticket"]
    assert subjects(my_tasks(client, status="Rejected").get_json()) == ["Rejected duplicate"]
    both = {"Closed printer ticket", "Rejected duplicate"}
    assert set(subjects(my_tasks(client, status="closed").get_json())) == both


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        ("High", ["Fix login issue"]),  # alice's High task in Infrastructure stays hidden
        ("high", ["Fix login issue"]),
        ("Low", ["Export 50% report"]),
        ("Urgent", []),
    ],
)
def test_my_tasks_priority_filter(client, login, world, priority, expected):
    login(world.users["alice"])
    doc = my_tasks(client, priority=priority).get_json()
    assert subjects(doc) == expected
    assert doc["pagination"]["total"] == len(expected)
    assert doc["filters"]["priority"] == priority


@pytest.mark.parametrize(
    ("project", "expected"),
    [
        ("web", ["Fix login issue", "Export 50% report"]),
        ("Web Portal", ["Fix login issue", "Export 50% report"]),
        ("web portal", ["Fix login issue", "Export 50% report"]),
        ("web-portal", ["Fix login issue", "Export 50% report"]),
        ("service-desk", ["Reset_password flow", "VPN drops every hour"]),
        ("infra", []),
        ("Infrastructure", []),
        ("No such project", []),
    ],
)
def test_my_tasks_project_filter_by_id_name_or_identifier(client, login, world, project, expected):
    login(world.users["alice"])
    value = str(world.projects[project]) if project in world.projects else project
    doc = my_tasks(client, project=value).get_json()
    assert subjects(doc) == expected
    assert doc["pagination"]["total"] == len(expected)
    assert doc["filters"]["project"] == value


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("login", ["Fix login issue"]),
        ("LOGIN", ["Fix login issue"]),
        ("issue fix", ["Fix login issue"]),
        ("export report", ["Export 50% report"]),
        ("export login", []),
        ("50%", ["Export 50% report"]),
        ("%", ["Export 50% report"]),
        ("_", ["Reset_password flow"]),
        ("t_p", ["Reset_password flow"]),
        ("Reset%flow", []),
        ("E_port", []),
        ("\\", []),
        ("printer", ["Closed printer ticket"]),  # status=all below
    ],
)
def test_my_tasks_search_words_with_literal_wildcards(client, login, world, search, expected):
    login(world.users["alice"])
    doc = my_tasks(client, search=search, status="all").get_json()
    assert subjects(doc) == expected
    assert doc["pagination"]["total"] == len(expected)
    assert doc["filters"]["search"] == search


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-priority", names("RFVE")),
        ("priority", names("EVFR")),
        ("due_date", names("VFER")),  # no due date last
        ("-due_date", names("EFVR")),  # no due date last here too
        ("subject", names("EFRV")),
        ("-updated_on", names("VFRE")),
        ("status,-priority", names("EFVR")),
        ("project,subject", names("RVEF")),
    ],
)
def test_my_tasks_sort(client, login, world, sort, expected):
    login(world.users["alice"])
    response = my_tasks(client, sort=sort)
    assert response.status_code == 200
    doc = response.get_json()
    assert subjects(doc) == expected
    assert doc["filters"]["sort"] == sort


@pytest.mark.parametrize("sort", ["bogus", "-", ",", "priority,bogus", "password", "-author_id"])
def test_my_tasks_unknown_sort_key_is_400(client, login, world, sort):
    login(world.users["alice"])
    body = assert_error(my_tasks(client, sort=sort), 400)
    assert "sort" in body["errors"]


def test_my_tasks_pagination(client, login, world: World):
    login(world.users["alice"])
    first = my_tasks(client, per_page=3).get_json()
    assert first["pagination"] == {"page": 1, "per_page": 3, "total": 4, "pages": 2}
    assert subjects(first) == ALICE_OPEN_BY_DEFAULT_SORT[:3]
    second = my_tasks(client, per_page=3, page=2).get_json()
    assert second["pagination"] == {"page": 2, "per_page": 3, "total": 4, "pages": 2}
    assert subjects(second) == ALICE_OPEN_BY_DEFAULT_SORT[3:]
    beyond = my_tasks(client, per_page=3, page=9).get_json()
    assert beyond["tasks"] == []
    assert beyond["pagination"]["total"] == 4


def test_my_tasks_limit_is_an_alias_of_per_page(client, login, world: World):
    login(world.users["alice"])
    doc = my_tasks(client, limit=1).get_json()
    assert doc["pagination"] == {"page": 1, "per_page": 1, "total": 4, "pages": 4}
    assert subjects(doc) == ALICE_OPEN_BY_DEFAULT_SORT[:1]
    both = my_tasks(client, limit=1, per_page=2).get_json()
    assert both["pagination"]["per_page"] == 2


def test_my_tasks_max_per_page_is_accepted(client, login, world: World):
    login(world.users["alice"])
    assert my_tasks(client, per_page=100).get_json()["pagination"]["per_page"] == 100


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"per_page": -5}, "per_page"),
        ({"per_page": "abc"}, "per_page"),
        ({"per_page": "2.5"}, "per_page"),
        ({"limit": 0}, "per_page"),
        ({"limit": 1000}, "per_page"),
        ({"limit": "many"}, "per_page"),
        ({"page": 0}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": 10**20}, "page"),
        ({"search": "x" * 201}, "search"),
    ],
)
def test_my_tasks_invalid_parameters_are_400(client, login, world, params, field):
    login(world.users["alice"])
    body = assert_error(my_tasks(client, **params), 400)
    assert field in body["errors"], body


def test_my_tasks_json_needs_login_and_task_access(client, login, world: World):
    assert_error(my_tasks(client), 401)
    login(world.users["carol"])
    assert_error(my_tasks(client), 403)


# =============================================================================================
# GET /tasks/api/tasks
# =============================================================================================


def api_tasks(client, **params):
    response = client.get(f"{API}/tasks", query_string=params, headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is True
    return body["data"]


def test_api_tasks_assigned_to_me_is_my_tasks(client, login, world: World):
    login(world.users["alice"])
    data = api_tasks(client, assigned_to="me")
    assert subjects(data) == ALICE_OPEN_BY_DEFAULT_SORT
    assert data["pagination"]["total"] == 4


@pytest.mark.parametrize("params", [{}, {"assigned_to": "any"}])
def test_api_tasks_any_assignee_lists_every_visible_task(client, login, world, params):
    login(world.users["alice"])
    data = api_tasks(client, **params)
    assert {t["id"] for t in data["tasks"]} == {
        world.tasks[k] for k in ("login", "report", "bobweb", "reset", "unassigned", "vpn")
    }
    assert data["pagination"]["total"] == 6


def test_api_tasks_assigned_to_a_user_id(client, login, world: World):
    login(world.users["alice"])
    data = api_tasks(client, assigned_to=world.uid("bob"))
    assert subjects(data) == ["Bob web task"]  # bob's Infrastructure task is not visible to alice


def test_api_tasks_for_admin_cover_every_project(app, login, world: World):
    admin = as_user(app, login, world.users["admin"])
    data = api_tasks(admin, status="all")
    assert data["pagination"]["total"] == 9
    bob = api_tasks(admin, assigned_to=world.uid("bob"))
    assert sorted(subjects(bob)) == ["Bob web task", "Infra secret task"]


@pytest.mark.parametrize("value", ["someone", "0", "-1", "me,any"])
def test_api_tasks_bad_assigned_to_is_400(client, login, world, value):
    login(world.users["alice"])
    body = assert_error(client.get(f"{API}/tasks", query_string={"assigned_to": value}), 400)
    assert "assigned_to" in json.dumps(body["errors"])


# =============================================================================================
# Lookups
# =============================================================================================


def envelope_data(client, path):
    response = client.get(f"{API}{path}", headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is True
    return body["data"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "/statuses",
            [
                {"id": 1, "name": "New", "is_closed": False},
                {"id": 2, "name": "In Progress", "is_closed": False},
                {"id": 3, "name": "Resolved", "is_closed": False},
                {"id": 4, "name": "Feedback", "is_closed": False},
                {"id": 5, "name": "Closed", "is_closed": True},
                {"id": 6, "name": "Rejected", "is_closed": True},
            ],
        ),
        (
            "/priorities",
            [
                {"id": 1, "name": "Low", "is_default": False},
                {"id": 2, "name": "Normal", "is_default": True},
                {"id": 3, "name": "High", "is_default": False},
                {"id": 4, "name": "Urgent", "is_default": False},
                {"id": 5, "name": "Immediate", "is_default": False},
            ],
        ),
        (
            "/trackers",
            [
                {"id": 1, "name": "Bug"},
                {"id": 2, "name": "Feature"},
                {"id": SUPPORT, "name": "Support"},
            ],
        ),
    ],
    ids=["statuses", "priorities", "trackers"],
)
def test_lookup_lists(client, login, world, path, expected):
    login(world.users["alice"])
    assert envelope_data(client, path) == expected


def test_lookup_projects_lists_member_projects_only(app, client, login, world: World):
    login(world.users["alice"])
    assert envelope_data(client, "/projects") == [
        {"id": world.projects["desk"], "identifier": "service-desk", "name": "Service Desk"},
        {"id": world.projects["web"], "identifier": "web-portal", "name": "Web Portal"},
    ]
    dave = as_user(app, login, world.users["dave"])
    assert envelope_data(dave, "/projects") == []
    admin = as_user(app, login, world.users["admin"])
    assert [p["name"] for p in envelope_data(admin, "/projects")] == [
        "Infrastructure",
        "Service Desk",
        "Web Portal",
    ]


def test_lookup_project_members(app, client, login, world: World):
    login(world.users["alice"])
    assert envelope_data(client, f"/projects/{world.projects['web']}/members") == [
        {"user_id": world.uid("alice"), "name": "Alice Smith", "role": "Developer"},
        {"user_id": world.uid("bob"), "name": "Bob Jones", "role": "Developer"},
        {"user_id": world.uid("rita"), "name": "Rita Reporter", "role": "Reporter"},
    ]
    admin = as_user(app, login, world.users["admin"])
    assert envelope_data(admin, f"/projects/{world.projects['infra']}/members") == [
        {"user_id": world.uid("bob"), "name": "Bob Jones", "role": "Developer"}
    ]


def test_members_of_a_project_the_user_is_not_in_or_unknown_is_404(client, login, world):
    login(world.users["alice"])
    body = assert_error(client.get(f"{API}/projects/{world.projects['infra']}/members"), 404)
    assert "Bob" not in json.dumps(body)
    assert_error(client.get(f"{API}/projects/999999/members"), 404)


@pytest.mark.parametrize("path", ["/statuses", "/priorities", "/trackers", "/projects"])
def test_lookups_need_login_and_task_access(client, login, world, path):
    assert_error(client.get(f"{API}{path}"), 401)
    login(world.users["carol"])
    assert_error(client.get(f"{API}{path}"), 403)


# =============================================================================================
# Comments and journals
# =============================================================================================


def comment(client, task_id, body):
    return client.post(f"{task_url(task_id)}/comments", json=body, headers=JSON)


def test_add_comment_answers_201_with_the_journal(client, login, world: World):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    response = comment(client, task_id, {"notes": "  Looks good to me  "})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is True
    data = body["data"]
    assert data["notes"] == "Looks good to me"
    assert data["user_id"] == world.uid("alice")
    assert data["user_name"] == "Alice Smith"
    assert data["details"] == []
    assert data["created_on"].endswith("Z")
    journals = journals_of(task_id)
    assert [(j["id"], j["notes"], j["details"]) for j in journals] == [
        (data["id"], "Looks good to me", [])
    ]
    assert task_row(task_id)["status_id"] == IN_PROGRESS


@pytest.mark.parametrize(
    "body", [{"notes": ""}, {"notes": "   \n "}, {}, {"notes": None}, {"notes": 5}, {"text": "hi"}]
)
def test_empty_or_wrong_comment_is_422(client, login, world, body):
    login(world.users["alice"])
    before = snapshot()
    payload = assert_error(comment(client, world.tasks["login"], body), 422)
    assert "notes" in payload["errors"]
    assert snapshot() == before


def test_comment_on_a_task_the_user_cannot_see_is_404(app, client, login, world: World):
    login(world.users["alice"])
    before = snapshot()
    assert_error(comment(client, world.tasks["hidden"], {"notes": "peek"}), 404)
    assert_error(comment(client, 999_999, {"notes": "peek"}), 404)
    dave = as_user(app, login, world.users["dave"])
    assert_error(comment(dave, world.tasks["login"], {"notes": "peek"}), 404)
    assert snapshot() == before


def test_comment_needs_login_and_task_access(client, login, world: World):
    before = snapshot()
    assert_error(comment(client, world.tasks["login"], {"notes": "x"}), 401)
    login(world.users["carol"])
    assert_error(comment(client, world.tasks["login"], {"notes": "x"}), 403)
    assert snapshot() == before


def test_journals_list_the_history_oldest_first(client, login, world: World):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    assert envelope_data(client, f"/task/{task_id}/journals") == []
    assert (
        put_status(client, task_id, {"status_id": RESOLVED, "comment": "fixed"}).status_code == 200
    )
    assert comment(client, task_id, {"notes": "second"}).status_code == 201
    journals = envelope_data(client, f"/task/{task_id}/journals")
    assert [(j["notes"], j["details"]) for j in journals] == [
        ("fixed", [{"property": "status_id", "old_value": "2", "new_value": "3"}]),
        ("second", []),
    ]
    assert all(j["user_name"] == "Alice Smith" for j in journals)
    assert journals[0]["id"] < journals[1]["id"]


def test_journals_of_an_invisible_task_are_404(client, login, world: World):
    login(world.users["alice"])
    assert_error(client.get(f"{API}/task/{world.tasks['hidden']}/journals"), 404)
    assert_error(client.get(f"{API}/task/{world.tasks['hidden']}/allowed-statuses"), 404)


# =============================================================================================
# PUT /tasks/api/tasks/status (bulk)
# =============================================================================================


def bulk(client, updates):
    return client.put(f"{API}/tasks/status", json={"updates": updates}, headers=JSON)


def test_bulk_reports_each_task_and_keeps_the_successes(client, login, world: World):
    login(world.users["alice"])
    t = world.tasks
    before = snapshot()
    response = bulk(
        client,
        [
            {"task_id": t["login"], "status_id": RESOLVED, "comment": "bulk one"},
            {"task_id": 999_999, "status_id": IN_PROGRESS},
            {"task_id": t["report"], "status_id": IN_PROGRESS},
            {"task_id": t["hidden"], "status_id": CLOSED},
            {"task_id": t["vpn"], "status_id": 99},
        ],
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is True
    data = body["data"]
    assert (data["succeeded"], data["failed"]) == (2, 3)
    results = data["results"]
    assert [r["task_id"] for r in results] == [
        t["login"],
        999_999,
        t["report"],
        t["hidden"],
        t["vpn"],
    ]
    assert [r["success"] for r in results] == [True, False, True, False, False]
    assert (results[0]["old_status"], results[0]["new_status"]) == ("In Progress", "Resolved")
    assert (results[2]["old_status"], results[2]["new_status"]) == ("New", "In Progress")
    assert [results[i]["status_code"] for i in (1, 3, 4)] == [404, 404, 422]
    assert all(results[i]["message"] for i in (1, 3, 4))
    assert "status_id" in results[4]["errors"]

    assert task_row(t["login"])["status_id"] == RESOLVED
    assert task_row(t["report"])["status_id"] == IN_PROGRESS
    for key in ("hidden", "vpn"):
        old = next(row for row in before["tasks"] if row["id"] == t[key])
        assert task_row(t[key]) == old
    assert journals_of(t["login"])[0]["notes"] == "bulk one"
    assert journals_of(t["login"])[0]["details"] == [("status_id", "2", "3")]
    assert len(journals_of(t["report"])) == 1
    assert journals_of(t["hidden"]) == journals_of(t["vpn"]) == []
    assert counts()["journals"] == before["counts"]["journals"] + 2


def test_bulk_forbidden_transition_fails_alone(client, login, world: World):
    login(world.users["rita"])
    t = world.tasks
    response = bulk(
        client,
        [
            {"task_id": t["unassigned"], "status_id": IN_PROGRESS},
            {"task_id": t["bobweb"], "status_id": CLOSED},
            {"task_id": t["login"], "status_id": RESOLVED},
        ],
    )
    assert response.status_code == 200
    results = response.get_json()["data"]["results"]
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["status_code"] == 422
    assert results[1]["allowed_statuses"] == [{"id": IN_PROGRESS, "name": "In Progress"}]
    assert task_row(t["unassigned"])["status_id"] == IN_PROGRESS
    assert task_row(t["bobweb"])["status_id"] == NEW
    assert journals_of(t["bobweb"]) == []
    assert task_row(t["login"])["status_id"] == RESOLVED


def test_bulk_of_more_than_100_items_is_422_and_changes_nothing(client, login, world: World):
    login(world.users["alice"])
    before = snapshot()
    updates = [{"task_id": world.tasks["login"], "status_id": RESOLVED}] * 101
    payload = assert_error(bulk(client, updates), 422)
    assert "updates" in payload["errors"]
    assert snapshot() == before


def test_bulk_of_exactly_100_items_is_accepted(client, login, world: World):
    login(world.users["alice"])
    updates = [{"task_id": world.tasks["login"], "status_id": s} for s in (RESOLVED, FEEDBACK)] * 50
    response = bulk(client, updates)
    assert response.status_code == 200
    assert response.get_json()["data"]["succeeded"] == 100
    assert task_row(world.tasks["login"])["status_id"] == FEEDBACK


@pytest.mark.parametrize(
    "body",
    [
        {"updates": []},
        {},
        {"updates": {"task_id": 1, "status_id": 2}},
        {"updates": [{"task_id": 1}]},
        {"updates": [{"status_id": 2}]},
        "LOGIN_OK_THEN_BAD_TYPE",
    ],
    ids=repr,
)
def test_bulk_with_an_invalid_body_is_422_and_changes_nothing(client, login, world, body):
    login(world.users["alice"])
    if body == "LOGIN_OK_THEN_BAD_TYPE":
        body = {
            "updates": [
                {"task_id": world.tasks["login"], "status_id": RESOLVED},
                {"task_id": world.tasks["report"], "status_id": "2"},
            ]
        }
    before = snapshot()
    response = client.put(f"{API}/tasks/status", json=body, headers=JSON)
    assert_error(response, 422)
    assert snapshot() == before


def test_bulk_needs_json(client, login, world: World):
    login(world.users["alice"])
    before = snapshot()
    response = client.put(
        f"{API}/tasks/status", data="updates=1", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415)
    assert snapshot() == before


# =============================================================================================
# TaskStatusChanged events
# =============================================================================================


def test_api_status_change_emits_exactly_one_event_after_commit(app, client, login, world):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    seen_in_database = []

    def check_committed(event):
        rows = committed_rows(select(Task.status_id).where(Task.id == event.task.id))
        seen_in_database.append(rows[0][0])

    received = []
    subscribe(app, TaskStatusChanged, received.append)
    subscribe(app, TaskStatusChanged, check_committed)
    response = put_status(
        client, task_id, {"status_id": RESOLVED, "comment": "ship it", "notify_users": False}
    )
    assert response.status_code == 200
    assert len(received) == 1
    event = received[0]
    assert event.task.id == task_id
    assert (event.old_status.id, event.new_status.id) == (IN_PROGRESS, RESOLVED)
    assert event.actor_id == world.uid("alice")
    assert event.comment == "ship it"
    assert event.notify_users is False
    assert event.journal_id == journals_of(task_id)[0]["id"]
    assert seen_in_database == [RESOLVED]


def test_a_handler_that_leaves_a_broken_write_behind_is_logged_not_raised(
    app, client, login, world, caplog
):
    """The change is committed before its handlers run: a handler's unflushable leftovers fail
    the handlers' own ending, which is logged and rolled back, and the change still answers."""
    login(world.users["alice"])
    task_id = world.tasks["login"]

    def leave_a_broken_watcher(event):
        db.session.add(Watcher(task_id=event.task.id, user_id=999_999))  # no such user

    subscribe(app, TaskStatusChanged, leave_a_broken_watcher)
    with caplog.at_level(logging.ERROR, logger="helpdesk.core.events"):
        response = put_status(client, task_id, {"status_id": RESOLVED})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "ending the event handlers' transaction failed" in caplog.text
    fresh()
    assert db.session.get(Task, task_id).status_id == RESOLVED


def test_no_event_for_same_status_or_refused_changes(app, client, login, world, status_events):
    login(world.users["alice"])
    t = world.tasks
    assert put_status(client, t["login"], {"status_id": IN_PROGRESS}).status_code == 200
    assert (
        put_status(client, t["login"], {"status_id": IN_PROGRESS, "comment": "c"}).status_code
        == 200
    )
    assert put_status(client, t["login"], {"status_id": 99}).status_code == 422
    assert put_status(client, t["hidden"], {"status_id": RESOLVED}).status_code == 404
    assert put_status(client, t["login"], {"status_id": "3"}).status_code == 422
    assert comment(client, t["login"], {"notes": "just a note"}).status_code == 201
    assert (
        create(client, {"project_id": world.projects["web"], "subject": "new"}).status_code == 201
    )
    rita = as_user(app, login, world.users["rita"])
    assert put_status(rita, t["unassigned"], {"status_id": CLOSED}).status_code == 422
    assert status_events == []


def test_bulk_emits_one_event_per_successful_item(client, login, world, status_events):
    login(world.users["alice"])
    t = world.tasks
    response = bulk(
        client,
        [
            {"task_id": 999_999, "status_id": RESOLVED},
            {"task_id": t["login"], "status_id": RESOLVED},
            {"task_id": t["report"], "status_id": IN_PROGRESS},
            {"task_id": t["vpn"], "status_id": IN_PROGRESS},  # same status: no event
        ],
    )
    assert response.status_code == 200
    assert response.get_json()["data"]["succeeded"] == 3
    assert [(e.task.id, e.old_status.id, e.new_status.id) for e in status_events] == [
        (t["login"], IN_PROGRESS, RESOLVED),
        (t["report"], NEW, IN_PROGRESS),
    ]


def test_bulk_with_a_failure_in_the_middle_still_delivers_every_success(
    client, login, world, status_events
):
    """A failed item's savepoint rollback must not drop the events queued before it."""
    login(world.users["alice"])
    t = world.tasks
    response = bulk(
        client,
        [
            {"task_id": t["login"], "status_id": RESOLVED},
            {"task_id": 999_999, "status_id": RESOLVED},
            {"task_id": t["report"], "status_id": IN_PROGRESS},
            {"task_id": t["vpn"], "status_id": 99},
            {"task_id": t["reset"], "status_id": CLOSED},
            {"task_id": t["hidden"], "status_id": CLOSED},
        ],
    )
    assert response.status_code == 200
    assert response.get_json()["data"]["succeeded"] == 3
    assert task_row(t["login"])["status_id"] == RESOLVED
    assert task_row(t["report"])["status_id"] == IN_PROGRESS
    assert task_row(t["reset"])["status_id"] == CLOSED
    assert [(e.task.id, e.new_status.id) for e in status_events] == [
        (t["login"], RESOLVED),
        (t["report"], IN_PROGRESS),
        (t["reset"], CLOSED),
    ]


def test_task_page_status_form_emits_one_event(client, login, world, status_events):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    token = csrf_token_from(client, f"/tasks/{task_id}")
    response = client.post(
        f"/tasks/{task_id}/status",
        data={"status_id": str(FEEDBACK), "comment": "from the page", "csrf_token": token},
        headers=BROWSER,
    )
    assert response.status_code == 302
    assert [(e.task.id, e.old_status.id, e.new_status.id) for e in status_events] == [
        (task_id, IN_PROGRESS, FEEDBACK)
    ]
    assert status_events[0].comment == "from the page"
    # Choosing the current status again on the page announces nothing.
    token = csrf_token_from(client, f"/tasks/{task_id}")
    client.post(
        f"/tasks/{task_id}/status",
        data={"status_id": str(FEEDBACK), "csrf_token": token},
        headers=BROWSER,
    )
    assert len(status_events) == 1


def test_events_of_two_users_are_attributed_to_each(app, client, login, world, status_events):
    login(world.users["alice"])
    bob = as_user(app, login, world.users["bob"])
    assert put_status(client, world.tasks["login"], {"status_id": RESOLVED}).status_code == 200
    assert put_status(bob, world.tasks["bobweb"], {"status_id": IN_PROGRESS}).status_code == 200
    assert [(e.task.id, e.actor_id) for e in status_events] == [
        (world.tasks["login"], world.uid("alice")),
        (world.tasks["bobweb"], world.uid("bob")),
    ]


# =============================================================================================
# Optimistic locking
# =============================================================================================


def change_elsewhere(task_id: int, **values) -> None:
    """Commit a change to the task on a connection of its own, as another process would."""
    with db.engine.begin() as conn:
        conn.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(lock_version=Task.lock_version + 1, **values)
        )


postgresql_races = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="on SQLite a writing request holds the one writer from its BEGIN: nobody else can "
    "commit between its read and its write",
)


@postgresql_races
def test_a_change_that_loses_the_race_is_409_and_keeps_the_other_writers_change(
    client, login, world, status_events, monkeypatch
):
    """Someone else saves the task between our read and our write: the version check (the
    mapper's lock_version) refuses ours with a 409, and nothing of ours is saved."""
    login(world.users["alice"])
    task_id = world.tasks["login"]
    original = LocalBackend._require_member

    def meanwhile(self, actor, role_id):
        change_elsewhere(task_id, subject="Changed elsewhere")
        return original(self, actor, role_id)

    monkeypatch.setattr(LocalBackend, "_require_member", meanwhile)
    body = assert_error(put_status(client, task_id, {"status_id": RESOLVED}), 409)
    assert body["status_code"] == 409
    row = task_row(task_id)
    assert row["status_id"] == IN_PROGRESS
    assert row["subject"] == "Changed elsewhere"
    assert journals_of(task_id) == []
    assert status_events == []


@postgresql_races
def test_a_comment_that_loses_the_race_is_409(client, login, world, monkeypatch):
    """A comment bumps the task's version too, so it is checked the same way."""
    login(world.users["alice"])
    task_id = world.tasks["login"]
    original = LocalBackend._require_member

    def meanwhile(self, actor, role_id):
        change_elsewhere(task_id, status_id=FEEDBACK)
        return original(self, actor, role_id)

    monkeypatch.setattr(LocalBackend, "_require_member", meanwhile)
    assert_error(comment(client, task_id, {"notes": "Still seeing it"}), 409)
    assert task_row(task_id)["status_id"] == FEEDBACK
    assert journals_of(task_id) == []


def test_concurrent_change_fails_only_its_own_bulk_item(
    client, login, world, status_events, monkeypatch
):
    login(world.users["alice"])
    t = world.tasks
    original = LocalBackend._allowed_status_ids

    def meanwhile(self, actor, row):
        if row[0].id == t["report"]:
            # Bump the version behind the ORM's back, as another writer's commit would.
            db.session.execute(
                update(Task)
                .where(Task.id == t["report"])
                .values(lock_version=Task.lock_version + 1)
                .execution_options(synchronize_session=False)
            )
        return original(self, actor, row)

    monkeypatch.setattr(LocalBackend, "_allowed_status_ids", meanwhile)
    response = bulk(
        client,
        [
            {"task_id": t["login"], "status_id": RESOLVED},
            {"task_id": t["report"], "status_id": IN_PROGRESS},
            {"task_id": t["vpn"], "status_id": RESOLVED},
        ],
    )
    assert response.status_code == 200
    results = response.get_json()["data"]["results"]
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["status_code"] == 409
    assert task_row(t["report"])["status_id"] == NEW
    assert journals_of(t["report"]) == []
    assert task_row(t["login"])["status_id"] == task_row(t["vpn"])["status_id"] == RESOLVED
    assert [e.task.id for e in status_events] == [t["login"], t["vpn"]]


def test_a_crash_in_the_middle_of_a_bulk_change_keeps_the_items_before_it(
    client, login, world, status_events, monkeypatch
):
    """Each item is its own unit of work, as it must be on a backend whose writes are not in
    our transaction: an unexpected error is a 500 that undoes its own item and the rest of the
    request, not the items already committed and announced."""
    login(world.users["alice"])
    t = world.tasks
    original = LocalBackend.change_status

    def crash_on_report(self, actor, task_id, status_id, comment):
        if task_id == t["report"]:
            raise RuntimeError("disk on fire")
        return original(self, actor, task_id, status_id, comment)

    monkeypatch.setattr(LocalBackend, "change_status", crash_on_report)
    response = bulk(
        client,
        [
            {"task_id": t["login"], "status_id": RESOLVED},
            {"task_id": t["report"], "status_id": IN_PROGRESS},
            {"task_id": t["vpn"], "status_id": RESOLVED},
        ],
    )
    assert_error(response, 500)
    assert task_row(t["login"])["status_id"] == RESOLVED
    assert [e.task.id for e in status_events] == [t["login"]]
    assert task_row(t["report"])["status_id"] == NEW
    assert journals_of(t["report"]) == journals_of(t["vpn"]) == []
    assert task_row(t["vpn"])["status_id"] != RESOLVED


# =============================================================================================
# Odd input that must never be a 500
# =============================================================================================


@pytest.mark.parametrize("path", ["/tasks/my-tasks", f"{API}/tasks"])
@pytest.mark.parametrize("project", ["9" * 25, "²"])
def test_project_filter_that_is_not_a_usable_id_is_not_a_500(client, login, world, path, project):
    login(world.users["alice"])
    response = client.get(path, query_string={"project": project}, headers=JSON)
    assert response.status_code in {200, 400}, response.get_data(as_text=True)
    if response.status_code == 200:
        body = response.get_json()
        assert body.get("data", body)["tasks"] == []


def nul_requests(world: World):
    """Requests that carry a NUL character in a text field, as (name, method, path, kwargs)."""
    task = world.tasks["login"]
    web = world.projects["web"]
    return [
        ("search", "get", "/tasks/my-tasks", {"query_string": {"search": "a\x00b"}}),
        ("status filter", "get", "/tasks/my-tasks", {"query_string": {"status": "a\x00b"}}),
        ("priority filter", "get", f"{API}/tasks", {"query_string": {"priority": "\x00"}}),
        ("project filter", "get", f"{API}/tasks", {"query_string": {"project": "web\x00"}}),
        ("comment", "post", f"{API}/task/{task}/comments", {"json": {"notes": "a\x00b"}}),
        (
            "status comment",
            "put",
            f"{API}/task/{task}/status",
            {"json": {"status_id": RESOLVED, "comment": "a\x00b"}},
        ),
        ("subject", "post", f"{API}/task", {"json": {"project_id": web, "subject": "a\x00b"}}),
        (
            "description",
            "post",
            f"{API}/task",
            {"json": {"project_id": web, "subject": "ok", "description": "\x00"}},
        ),
    ]


NUL_CASES = [
    "search",
    "status filter",
    "priority filter",
    "project filter",
    "comment",
    "status comment",
    "subject",
    "description",
]


@pytest.mark.parametrize("case", NUL_CASES)
def test_nul_characters_in_text_are_never_a_500(client, login, world, case):
    login(world.users["alice"])
    _case, method, path, kwargs = next(r for r in nul_requests(world) if r[0] == case)
    before = snapshot()
    response = getattr(client, method)(path, headers=JSON, **kwargs)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.get_json()["success"] is False
        assert snapshot() == before


def test_task_created_in_a_closed_status_has_closed_on(client, login, world: World):
    login(world.users["alice"])
    body = {"project_id": world.projects["web"], "subject": "Born closed", "status_id": CLOSED}
    response = create(client, body)
    assert response.status_code == 201
    task_id = response.get_json()["data"]["task_id"]
    assert task_row(task_id)["closed_on"] is not None


def test_required_custom_field_must_be_given(client, login, world: World):
    db.session.add(CustomField(name="Cost centre", is_required=True))
    db.session.commit()
    login(world.users["alice"])
    before = snapshot()
    payload = assert_error(
        create(client, {"project_id": world.projects["web"], "subject": "T"}), 422
    )
    assert any("Cost centre" in m for m in payload["errors"]["custom_fields"])
    assert snapshot() == before


def test_the_seed_helper_get_active_tasks_lists_my_open_tasks(world: World):
    tasks = world.users["alice"].get_active_tasks()
    assert [task.subject for task in tasks] == ALICE_OPEN_BY_DEFAULT_SORT
    assert world.users["carol"].get_active_tasks() == []


def test_closed_days_keeps_closed_tasks_of_the_last_days_only(client, login, world):
    """The board's closed columns show the last KANBAN_CLOSED_DAYS days; a reopened task keeps
    its old closed_on and is still listed among the open ones."""
    now = datetime.now(UTC).replace(tzinfo=None)
    fresh_close = Task(
        project_id=world.projects["desk"],
        tracker_id=1,
        status_id=CLOSED,
        priority_id=2,
        author_id=world.uid("alice"),
        assigned_to_id=world.uid("alice"),
        subject="Closed yesterday",
        description="",
        closed_on=now - timedelta(days=1),
    )
    db.session.add(fresh_close)
    db.session.get(Task, world.tasks["login"]).closed_on = now - timedelta(days=400)  # reopened
    db.session.commit()
    login(world.users["alice"])
    recent = my_tasks(client, status="closed", closed_days=14).get_json()
    assert subjects(recent) == ["Closed yesterday"]  # not the printer ticket closed in 2024
    assert set(subjects(my_tasks(client, status="closed").get_json())) == {
        "Closed yesterday",
        "Closed printer ticket",
    }
    assert "Fix login issue" in subjects(my_tasks(client, status="open", closed_days=14).get_json())
    assert my_tasks(client, closed_days=0).status_code == 400
