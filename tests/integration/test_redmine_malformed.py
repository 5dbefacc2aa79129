"""A Redmine answer that is valid JSON but not the shape the helpdesk reads (a key missing, a
wrong type, a time that is no time) is "Redmine is unavailable" (502), never a 500: through the
API, the pages, the identity lookups, sign-in and the change feed.

Real Redmine never answers like this on purpose (a proxy, a plugin or another version might), so
these answers come from a small HTTP server of the test's own; tests/integration/
test_redmine_backend.py holds the helpdesk to the real Redmine's answers."""

from __future__ import annotations

import copy
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from helpdesk.integrations.redmine.client import RedmineClient
from helpdesk.integrations.redmine.feed import changes_since
from helpdesk.integrations.redmine.identity import RedmineUserIds
from helpdesk.tasks.backends.base import BackendUnavailable
from helpdesk.tasks.backends.redmine import RedmineBackend
from helpers import HTML, JSON, json_sign_in

UNAVAILABLE = "Redmine is unavailable"
ISSUE: dict[str, Any] = {
    "id": 7,
    "project": {"id": 1, "name": "Office"},
    "tracker": {"id": 1, "name": "Bug"},
    "status": {"id": 1, "name": "New", "is_closed": False},
    "priority": {"id": 2, "name": "Normal"},
    "author": {"id": 9, "name": "Ivan Petrov"},
    "subject": "Printer jams",
    "description": "Tray 2",
    "start_date": "2026-12-01",
    "due_date": None,
    "done_ratio": 0,
    "estimated_hours": None,
    "created_on": "2026-12-07T10:00:00Z",
    "updated_on": "2026-12-07T11:00:00Z",
    "closed_on": None,
    "custom_fields": [{"id": 1, "name": "Customer", "value": "ACME"}],
    "journals": [
        {
            "id": 70,
            "user": {"id": 9, "name": "Ivan Petrov"},
            "notes": "Paper jammed",
            "private_notes": False,
            "created_on": "2026-12-07T11:00:00Z",
            "details": [],
        }
    ],
    "watchers": [{"id": 9, "name": "Ivan Petrov"}],
    "allowed_statuses": [{"id": 1, "name": "New", "is_closed": False}],
}
VALID: dict[str, Any] = {
    "/users/current.json": {"user": {"id": 1, "login": "admin", "admin": True}},
    "/users/9.json": {"user": {"id": 9, "login": "ivan", "firstname": "Ivan"}},
    "/issue_statuses.json": {"issue_statuses": [{"id": 1, "name": "New", "is_closed": False}]},
    "/enumerations/issue_priorities.json": {
        "issue_priorities": [{"id": 2, "name": "Normal", "is_default": True, "active": True}]
    },
    "/trackers.json": {"trackers": [{"id": 1, "name": "Bug"}]},
    "/issues/7.json": {"issue": ISSUE},
    "/issues.json": {"issues": [ISSUE], "total_count": 1, "offset": 0, "limit": 25},
    "/projects.json": {
        "projects": [{"id": 1, "identifier": "office", "name": "Office"}],
        "total_count": 1,
    },
}


class OddRedmine:
    """An HTTP server answering Redmine's paths with the JSON bodies a test sets (the valid ones
    unless told otherwise); a body given as bytes is sent as it is."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = copy.deepcopy(VALID)
        answers = self.answers

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                """The body set for the path (its query left out), else 404."""
                body = answers.get(self.path.split("?")[0])
                self.send_response(404 if body is None else 200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.end_headers()
                if body is not None:
                    self.wfile.write(body if isinstance(body, bytes) else json.dumps(body).encode())

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def odd_redmine() -> Iterator[OddRedmine]:
    """The test's own Redmine look-alike."""
    server = OddRedmine()
    yield server
    server.close()


@pytest.fixture
def redmine_app(app: Flask, odd_redmine: OddRedmine, make_user, login) -> Flask:
    """The test's app with TASK_BACKEND=redmine on the look-alike, ivan signed in."""
    app.config.update(TASK_BACKEND="redmine", REDMINE_URL=odd_redmine.url, REDMINE_API_KEY="k" * 40)
    app.extensions["task_backend"] = RedmineBackend.from_app(app)
    login(make_user("ivan", is_redmine_user=True))
    return app


def issue_with(**changes: Any) -> dict[str, Any]:
    """The valid issue with some keys replaced (a value of None drops the key)."""
    issue = {**copy.deepcopy(ISSUE), **changes}
    return {"issue": {key: value for key, value in issue.items() if value is not None}}


MALFORMED_ISSUES = {
    "a key missing": issue_with(status=None),
    "a wrong type": issue_with(project={"id": "one", "name": "Office"}),
    "a number as text": issue_with(done_ratio="0"),
    "a time that is no time": issue_with(updated_on="yesterday"),
    "a date that is no date": issue_with(start_date="2026-13-01"),
    "a journal without its time": issue_with(journals=[{"id": 70, "notes": "x"}]),
    "a watcher without a name": issue_with(watchers=[{"id": 9}]),
    "no issue": {"issue": None},
    "a list": [ISSUE],
    "not JSON": b"<html>Sign in</html>",
}


def test_the_valid_answers_are_read(client, redmine_app: Flask) -> None:
    """The look-alike's own answers are what Redmine sends: the task reads whole."""
    response = client.get("/tasks/api/task/7", headers=JSON)
    assert response.status_code == 200, response.get_json()
    task = response.get_json()["data"]
    assert (task["subject"], task["status_name"], task["author_name"]) == (
        "Printer jams",
        "New",
        "ivan",
    )


@pytest.mark.parametrize("body", MALFORMED_ISSUES.values(), ids=MALFORMED_ISSUES.keys())
def test_a_malformed_task_is_502_in_the_api_and_on_the_page(
    client, redmine_app: Flask, odd_redmine: OddRedmine, body: Any
) -> None:
    odd_redmine.answers["/issues/7.json"] = body
    response = client.get("/tasks/api/task/7", headers=JSON)
    assert response.status_code == 502
    assert UNAVAILABLE in response.get_json()["message"]
    page = client.get("/tasks/7", headers=HTML)
    assert page.status_code == 502
    assert UNAVAILABLE in page.get_data(as_text=True)


MALFORMED_LISTS: dict[str, tuple[str, Any, str]] = {
    "a task list without its total": (
        "/issues.json",
        {"issues": [ISSUE]},
        "/tasks/api/tasks?status=all",
    ),
    "a task row without a subject": (
        "/issues.json",
        {"issues": [{**ISSUE, "subject": None}], "total_count": 1},
        "/tasks/api/tasks",
    ),
    "statuses as an object": (
        "/issue_statuses.json",
        {"issue_statuses": {"id": 1}},
        "/tasks/api/statuses",
    ),
    "a priority without a name": (
        "/enumerations/issue_priorities.json",
        {"issue_priorities": [{"id": 2}]},
        "/tasks/api/priorities",
    ),
    "trackers missing": ("/trackers.json", {"tracker": []}, "/tasks/api/trackers"),
    "a project without an identifier": (
        "/projects.json",
        {"projects": [{"id": 1, "name": "Office"}], "total_count": 1},
        "/tasks/api/projects",
    ),
    "a user without a login (identity)": (
        "/users/9.json",
        {"user": {"id": 9}},
        "/tasks/api/task/7",
    ),
}


@pytest.mark.parametrize(
    ("path", "body", "url"), MALFORMED_LISTS.values(), ids=MALFORMED_LISTS.keys()
)
def test_malformed_lists_and_lookups_are_502(
    client, redmine_app: Flask, odd_redmine: OddRedmine, path: str, body: Any, url: str
) -> None:
    odd_redmine.answers[path] = body
    response = client.get(url, headers=JSON)
    assert response.status_code == 502, response.get_data(as_text=True)[:300]
    assert UNAVAILABLE in response.get_json()["message"]


def test_a_malformed_sign_in_answer_says_redmine_is_unavailable(
    app: Flask, client, odd_redmine: OddRedmine
) -> None:
    """Sign-in reads /users/current.json as the person: an answer without a login is Redmine
    failing, not a wrong password and not a 500."""
    from helpdesk.auth import build_providers

    app.config.update(AUTH_PROVIDERS=("local", "redmine"), REDMINE_URL=odd_redmine.url)
    app.extensions["auth_providers"] = build_providers(app.config)
    odd_redmine.answers["/users/current.json"] = {"user": {"id": 9, "admin": "no"}}
    response = json_sign_in(client, "ivan", "redmine-password-1")
    assert response.status_code == 503
    assert "Redmine is unavailable" in response.get_json()["message"]


@pytest.mark.parametrize(
    "page",
    [
        {"issues": [{"id": 7, "updated_on": "soon"}], "total_count": 1},
        {"issues": [ISSUE], "total_count": "1"},
    ],
    ids=["an issue without its fields", "a total as text"],
)
def test_the_rest_change_feed_treats_a_malformed_answer_as_an_outage(
    app: Flask, odd_redmine: OddRedmine, page: Any
) -> None:
    """The feed job waits out a BackendUnavailable (tasks/feed.py) and moves no cursor."""
    redmine = RedmineClient(odd_redmine.url, "k" * 40, timeout=5)

    class Source:
        client = redmine
        user_ids = RedmineUserIds(redmine)

    assert changes_since(Source(), None).changes == []  # the valid answers start a cursor
    odd_redmine.answers["/issues.json"] = page
    with pytest.raises(BackendUnavailable) as error:
        changes_since(Source(), None)
    assert error.value.status_code == 502
