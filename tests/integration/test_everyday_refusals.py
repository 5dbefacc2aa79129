"""Bad input on every endpoint issue 21 added (edit, watchers, people, files, a new task with
files, saved filters, the queues' parameters): each answer is a clear 4xx in JSON with a message,
and nothing changes — no row of any table a task write touches, no notification, no e-mail, no
file on disk (local store; tests/contract holds the task API to the same answers on Redmine)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from task_api_support import World, assert_error, build_world, snapshot

from helpdesk.notifications.models import MailOutbox, Notifications
from helpdesk.tasks.models import Attachment
from helpdesk.tasks.saved_filters import SavedFilter
from helpers import JSON, count_rows

API = "/tasks/api"
FAKE_PNG = b"<html><script>alert(1)</script></html>"


@pytest.fixture
def world(make_user) -> World:
    return build_world(make_user)


def state(app: Any) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    folder = Path(app.config["UPLOAD_FOLDER"]) / "attachments"
    return {
        **snapshot(),
        "more": {
            model.__tablename__: count_rows(model)
            for model in (Attachment, SavedFilter, Notifications, MailOutbox)
        },
        "files": sorted(p.name for p in folder.glob("*")) if folder.exists() else [],
    }


def multipart(fields: dict[str, Any], *files: tuple[bytes, str]) -> dict[str, Any]:
    """A multipart/form-data request's keyword arguments."""
    data = {**fields, "files": [(io.BytesIO(body), name) for body, name in files]}
    return {"data": data, "content_type": "multipart/form-data"}


def cases(world: World) -> list[tuple[str, str, dict[str, Any], int, str | None]]:
    """(method, path, request arguments, status, field named in errors) for each bad input."""
    login, hidden = world.tasks["login"], world.tasks["hidden"]
    web, infra = world.projects["web"], world.projects["infra"]
    dave = world.uid("dave")
    task = f"{API}/task/{login}"
    return [
        # PATCH a task
        ("PATCH", task, {"json": {}}, 422, "body"),
        ("PATCH", task, {"json": {"priority_id": "3"}}, 422, "priority_id"),
        ("PATCH", task, {"json": {"priority_id": 99}}, 422, "priority_id"),
        ("PATCH", task, {"json": {"assigned_to_id": dave}}, 422, "assigned_to_id"),
        ("PATCH", task, {"json": {"done_ratio": 101}}, 422, "done_ratio"),
        ("PATCH", task, {"json": {"subject": "  "}}, 422, "subject"),
        ("PATCH", task, {"json": {"start_date": "2031-01-02", "due_date": "2031-01-01"}}, 422,
         "due_date"),
        ("PATCH", task, {"json": {"custom_fields": [{"id": 999, "value": "x"}]}}, 422,
         "custom_fields"),
        ("PATCH", task, {"json": {"subject": "New", "lock_version": 10**6}}, 409, None),
        ("PATCH", task, {"data": "subject=x", "content_type": "text/plain"}, 415, None),
        ("PATCH", task, {"data": "{", "content_type": "application/json"}, 400, None),
        ("PATCH", f"{API}/task/{hidden}", {"json": {"subject": "Mine"}}, 404, None),
        ("PATCH", f"{API}/task/{2**40}", {"json": {"subject": "Mine"}}, 404, None),
        # watchers
        ("POST", f"{task}/watchers", {"json": {}}, 422, "user_id"),
        ("POST", f"{task}/watchers", {"json": {"user_id": dave}}, 422, "user_id"),
        ("POST", f"{task}/watchers", {"json": {"user_id": "2"}}, 422, "user_id"),
        ("POST", f"{task}/watchers", {"json": {"user_id": 2**40}}, 422, "user_id"),
        ("POST", f"{task}/watchers", {"data": "user_id=2"}, 415, None),
        ("POST", f"{API}/task/{hidden}/watchers", {"json": {"user_id": dave}}, 404, None),
        ("DELETE", f"{API}/task/{hidden}/watchers/{world.uid('bob')}", {}, 404, None),
        # people to mention
        ("GET", f"{API}/projects/{infra}/people", {}, 404, None),
        # files
        ("POST", f"{task}/attachments", multipart({}), 422, "files"),
        ("POST", f"{task}/attachments", multipart({}, (FAKE_PNG, "cat.png")), 422, "files"),
        ("POST", f"{task}/attachments", multipart({}, (b"", "empty.txt")), 422, "files"),
        ("POST", f"{task}/attachments", multipart({"notes": "n" * 70_000}, (b"a", "a.txt")), 422,
         "notes"),
        ("POST", f"{task}/attachments", {"json": {"files": []}}, 415, None),
        ("POST", f"{API}/task/{hidden}/attachments", multipart({}, (b"a", "a.txt")), 404, None),
        ("DELETE", f"{task}/attachments/987654", {}, 404, None),
        # a new task with files
        ("POST", f"{API}/task", multipart({"project_id": web, "subject": "x"},
                                          (FAKE_PNG, "cat.png")), 422, "files"),
        ("POST", f"{API}/task", multipart({"project_id": web, "subject": "x"},
                                          *[(b"a", f"{n}.txt") for n in range(21)]), 422, "files"),
        ("POST", f"{API}/task", multipart({"project_id": web}, (b"a", "a.txt")), 422, "subject"),
        ("POST", f"{API}/task", multipart({"project_id": "web", "subject": "x"}), 422,
         "project_id"),
        ("POST", f"{API}/task", multipart({"project_id": infra, "subject": "x"},
                                          (b"a", "a.txt")), 422, "project_id"),
        ("POST", f"{API}/task", multipart({"project_id": web, "subject": "x",
                                           "assigned_to_id": dave}, (b"a", "a.txt")), 422,
         "assigned_to_id"),
        ("POST", f"{API}/task", multipart({"project_id": web, "subject": "x", "cf_999": "v"},
                                          (b"a", "a.txt")), 422, "custom_fields"),
        ("POST", f"{API}/task", {"data": "subject=x", "content_type": "text/plain"}, 415, None),
        # saved filters
        ("POST", f"{API}/filters", {"json": {"name": "", "query": "status=all"}}, 422, "name"),
        ("POST", f"{API}/filters", {"json": {"name": "x" * 101, "query": ""}}, 422, "name"),
        ("POST", f"{API}/filters", {"json": {"name": "Bad", "query": "per_page=abc"}}, 422,
         "query"),
        ("POST", f"{API}/filters", {"data": "name=x"}, 415, None),
        ("PUT", f"{API}/filters/987654", {"json": {"name": "x", "query": ""}}, 404, None),
        ("DELETE", f"{API}/filters/987654", {}, 404, None),
        # the queues' parameters
        ("GET", "/tasks/my-tasks", {"query_string": {"assigned_to": "everyone"}}, 400,
         "assigned_to"),
        ("GET", "/tasks/my-tasks", {"query_string": {"author": "you"}}, 400, "author"),
        ("GET", "/tasks/my-tasks", {"query_string": {"watcher": "7"}}, 400, "watcher"),
        ("GET", f"{API}/tasks", {"query_string": {"per_page": "0"}}, 400, "per_page"),
    ]  # fmt: skip


def test_every_bad_input_is_a_clear_4xx_that_changes_nothing(
    app, client, login, world: World
) -> None:
    login(world.users["alice"])
    checked = 0
    for method, path, arguments, status, field in cases(world):
        before = state(app)
        response = client.open(path, method=method, headers=JSON, **arguments)
        body = assert_error(response, status)
        if field is not None:
            assert field in body.get("errors", {}), (method, path, body)
        assert state(app) == before, (method, path)
        checked += 1
    assert checked == len(cases(world))
