"""TASK_BACKEND=redmine against a real Redmine: the pages and the API act as the signed-in user
(Redmine's journals name them), its workflow refuses clearly, and every way Redmine can fail
answers with a clear status, never a 500 or a hang."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from html import unescape

import pytest
import requests
from flask import Flask

from conftest import csrf_token_from
from contract_world import World, redmine_world
from helpdesk import create_app
from helpdesk.config import ConfigurationError
from helpdesk.extensions import db
from helpdesk.integrations.redmine.answers import (
    CustomFieldsAnswer,
    IssueAnswer,
    IssuesPage,
    UserAnswer,
)
from helpdesk.integrations.redmine.client import NotLinked, RedmineClient
from helpdesk.integrations.redmine.connector import (
    RedmineAuthError,
    RedmineNotFoundError,
    create_redmine_connector,
)
from helpdesk.tasks.backends.base import (
    BackendUnavailable,
    TaskForbidden,
    TaskNotFound,
    TaskValidationError,
)
from helpdesk.users.models import User
from helpers import FORM, HTML, JSON
from redmine_server import RedmineServer

pytestmark = pytest.mark.redmine


@pytest.fixture
def world(app: Flask, make_user, request: pytest.FixtureRequest) -> World:
    """The contract suite's world, in the session's Redmine, served by the test's app."""
    return redmine_world(make_user, request)


def user(name: str) -> User:
    """A helpdesk user of the world by username."""
    return db.session.query(User).filter_by(username=name).one()


def journal_authors(server: RedmineServer, task_id: int) -> list[tuple[str, str]]:
    """(login, notes) of a task's journals as Redmine's own database has them."""
    return [
        (login, notes or "")
        for login, notes in server.sql(
            "SELECT u.login, j.notes FROM journals j JOIN users u ON u.id = j.user_id "
            "WHERE j.journalized_id = :task ORDER BY j.id",
            task=task_id,
        )
    ]


def flashes(html: str) -> list[str]:
    """The texts of a page's flash messages."""
    return [
        " ".join(unescape(re.sub(r"<[^>]+>", " ", m)).split())
        for m in re.findall(r'<div class="alert[^"]*"[^>]*>(.*?)</div>', html, re.S)
    ]


# -- acting as the user ------------------------------------------------------------------------


def test_pages_act_as_the_signed_in_user(client, login, world: World, redmine_server) -> None:
    """My Tasks, the task page, a comment, a status change and a new task, all through the
    browser's pages: Redmine records each change as the signed-in user, not the admin."""
    task = world.create("alice", "P2", "Printer on fire", assigned_to_id=user("bob").id)
    login(user("bob"))
    my_tasks = client.get("/tasks/my-tasks", headers=HTML).get_data(as_text=True)
    assert "Printer on fire" in my_tasks
    url = f"/tasks/{task.id}"
    page = client.get(url, headers=HTML)
    assert page.status_code == 200
    assert "Printer on fire" in page.get_data(as_text=True)

    token = csrf_token_from(client, url)
    done = client.post(
        f"{url}/comment", data={"notes": "Smoke seen", "csrf_token": token}, headers=FORM
    )
    assert done.status_code == 302
    in_progress = world.statuses["In Progress"]
    token = csrf_token_from(client, url)
    moved = client.post(
        f"{url}/status",
        data={"status_id": in_progress, "comment": "On it", "csrf_token": token},
        headers=FORM,
    )
    assert moved.status_code == 302
    after = client.get(url, headers=HTML).get_data(as_text=True)
    assert "Task status updated" in " ".join(flashes(after)) or "In Progress" in after
    bob_login = world.actors["bob"].login
    assert journal_authors(redmine_server, task.id) == [
        (bob_login, "Smoke seen"),
        (bob_login, "On it"),
    ]

    token = csrf_token_from(client, "/tasks/new")
    created = client.post(
        "/tasks/new",
        data={"subject": "Toner", "project_id": world.projects["P2"], "csrf_token": token},
        headers=FORM,
    )
    assert created.status_code == 302, created.get_data(as_text=True)[:500]
    new_id = int(created.headers["Location"].rsplit("/", 1)[1])
    [(author,)] = redmine_server.sql(
        "SELECT u.login FROM issues i JOIN users u ON u.id = i.author_id WHERE i.id = :id",
        id=new_id,
    )
    assert author == bob_login


def test_api_changes_status_and_comments_as_the_user(client, login, world: World, redmine_server):
    task = world.create("alice", "P1", "Chair squeaks")
    login(user("carol"))
    closed = world.statuses["Closed"]
    response = client.put(
        f"/tasks/api/task/{task.id}/status", json={"status_id": closed, "comment": "Oiled"}
    )
    assert response.status_code == 200, response.get_json()
    comment = client.post(f"/tasks/api/task/{task.id}/comments", json={"notes": "Quiet now"})
    assert comment.status_code in (200, 201), comment.get_json()
    carol = world.actors["carol"].login
    assert journal_authors(redmine_server, task.id) == [(carol, "Oiled"), (carol, "Quiet now")]
    [(status_id,)] = redmine_server.sql("SELECT status_id FROM issues WHERE id = :id", id=task.id)
    assert status_id == closed
    history = client.get(f"/tasks/api/task/{task.id}/journals").get_json()["data"]
    assert {(entry["user_id"], entry["user_name"]) for entry in history} == {
        (world.actors["carol"].user_id, "carol")
    }


def test_workflow_refusal_names_the_allowed_statuses_and_changes_nothing(
    client, login, world: World, redmine_server
):
    task = world.create("alice", "P1", "Triage me")
    world.restrict("Reporter", "New", ["Feedback"])
    login(user("carol"))
    response = client.put(
        f"/tasks/api/task/{task.id}/status",
        json={"status_id": world.statuses["Closed"]},
        headers=JSON,
    )
    assert response.status_code == 422
    body = response.get_json()
    assert [s["name"] for s in body["allowed_statuses"]] == ["Feedback"]
    assert "Feedback" in body["message"]
    [(status_id,)] = redmine_server.sql("SELECT status_id FROM issues WHERE id = :id", id=task.id)
    assert status_id == world.statuses["New"]
    assert journal_authors(redmine_server, task.id) == []


def test_a_role_without_edit_permission_is_offered_no_status(client, login, world, redmine_server):
    """Redmine lists the workflow's statuses to a role that may only add notes, then keeps the
    status silently: the helpdesk offers none and refuses with 422."""
    task = world.create("alice", "P1", "Read only")
    redmine_server.rails("Role.find(5).remove_permission!(:edit_issues)")
    try:
        login(user("carol"))
        allowed = client.get(f"/tasks/api/task/{task.id}/allowed-statuses").get_json()
        assert allowed["data"] == []
        refused = client.put(
            f"/tasks/api/task/{task.id}/status", json={"status_id": world.statuses["Feedback"]}
        )
        assert refused.status_code == 422
    finally:
        redmine_server.rails("Role.find(5).add_permission!(:edit_issues)")


# -- the error mapping ---------------------------------------------------------------------------


def test_unknown_task_is_404_and_bad_fields_are_422_by_field(client, login, world: World) -> None:
    login(user("alice"))
    assert client.get("/tasks/api/task/987654").status_code == 404
    hidden = world.create("bob", "P2", "Not for carol")
    login(user("carol"))
    assert client.get(f"/tasks/api/task/{hidden.id}").status_code == 404
    login(user("alice"))
    response = client.post(
        "/tasks/api/task",
        json={
            "project_id": world.projects["P1"],
            "subject": "Assign to an outsider",
            "assigned_to_id": user("bob").id,
        },
    )
    assert response.status_code == 422
    assert "assigned_to_id" in response.get_json()["errors"]


def test_an_unlinked_user_gets_403_saying_so(client, login, world: World, make_user) -> None:
    stranger = make_user("stranger", is_redmine_user=True)
    login(stranger)
    response = client.get("/tasks/api/tasks", headers=JSON)
    assert response.status_code == 403
    assert "not linked to a Redmine user" in response.get_json()["message"]
    page = client.get("/tasks/my-tasks", headers=HTML)
    assert page.status_code == 403
    assert "not linked to a Redmine user" in page.get_data(as_text=True)


def test_redmine_stopped_mid_test_is_503_then_recovers(
    client, login, world: World, redmine_server: RedmineServer
) -> None:
    task = world.create("alice", "P1", "Outage")  # alice's read of it is kept in the cache
    login(user("alice"))
    redmine_server.stop()
    try:
        kept = client.get(f"/tasks/api/task/{task.id}", headers=JSON)
        assert kept.status_code == 200  # what the cache keeps still answers
        response = client.get(f"/tasks/api/task/{task.id + 1}", headers=JSON)
        assert response.status_code == 503
        assert "Redmine is unavailable" in response.get_json()["message"]
        page = client.get("/tasks/my-tasks", headers=HTML)
        assert page.status_code == 503
        assert "Redmine is unavailable" in page.get_data(as_text=True)
        write = client.put(f"/tasks/api/task/{task.id}/status", json={"status_id": 5})
        assert write.status_code == 503
    finally:
        redmine_server.serve()
    assert client.get(f"/tasks/api/task/{task.id}").status_code == 200


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers (the kernel queues them)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_a_redmine_that_never_answers_is_503_within_the_timeout(silent_server: str) -> None:
    client = RedmineClient(silent_server, "key", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as error:
        client.put("/issues/1.json", {"issue": {"notes": "x"}})
    assert error.value.status_code == 503
    assert time.monotonic() - started < 2  # a write is never retried
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as error:
        client.get("/issues/1.json", shape=IssueAnswer)
    assert error.value.status_code == 503
    assert time.monotonic() - started < 5  # a read is retried once, each try bounded


@pytest.fixture
def html_server() -> Iterator[str]:
    """A web server that is not Redmine: a 200 of HTML for every path, then a 500."""
    import http.server
    import threading

    answers = iter([200, 500] * 10)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            """Answer like a web server that is not Redmine."""
            code = next(answers)
            self.send_response(code)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>login</html>")

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_malformed_answer_or_a_5xx_is_502(html_server: str) -> None:
    client = RedmineClient(html_server, "key", timeout=2)
    for _attempt in range(2):
        with pytest.raises(BackendUnavailable) as error:
            client.post("/issues.json", {"issue": {}}, shape=IssueAnswer)
        assert error.value.status_code == 502
        assert "Redmine is unavailable" in str(error.value)


# -- start-up ------------------------------------------------------------------------------------


def start(tmp_path, **settings) -> Flask:
    """create_app with TASK_BACKEND=redmine and these settings."""
    return create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'startup.db'}",
        TASK_BACKEND="redmine",
        **settings,
    )


def test_start_up_refuses_a_definite_misconfiguration_in_one_sentence(
    tmp_path, redmine_server: RedmineServer
) -> None:
    url, key = redmine_server.url, redmine_server.api_key
    with pytest.raises(ConfigurationError, match="needs REDMINE_URL"):
        start(tmp_path, REDMINE_URL="", REDMINE_API_KEY=key)
    with pytest.raises(ConfigurationError, match="refuses REDMINE_API_KEY"):
        start(tmp_path, REDMINE_URL=url, REDMINE_API_KEY="0" * 40)
    login = f"plain_{int(time.time() * 1000)}"
    created = requests.post(
        f"{url}/users.json",
        headers={"X-Redmine-API-Key": key},
        json={
            "user": {
                "login": login,
                "firstname": "P",
                "lastname": "L",
                "mail": f"{login}@example.com",
                "password": "plain-password-1",
            }
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    [(plain_key,)] = redmine_server.sql(
        "SELECT t.value FROM tokens t JOIN users u ON u.id = t.user_id "
        "WHERE u.login = :login AND t.action = 'api'",
        login=login,
    ) or [(None,)]
    if plain_key is None:
        plain_key = requests.get(
            f"{url}/my/api_key.json", auth=(login, "plain-password-1"), timeout=30
        ).json()["api_key"]["key"]
    with pytest.raises(ConfigurationError, match="not an administrator"):
        start(tmp_path, REDMINE_URL=url, REDMINE_API_KEY=plain_key)
    redmine_server.sql(
        "UPDATE settings SET value = '0', updated_on = NOW() WHERE name = 'rest_api_enabled'"
    )
    try:
        with pytest.raises(ConfigurationError, match="REST API is disabled"):
            start(tmp_path, REDMINE_URL=url, REDMINE_API_KEY=key)
    finally:  # Redmine reloads its settings when one is newer than its cache: a second ahead
        redmine_server.sql(
            "UPDATE settings SET value = '1', updated_on = NOW() + INTERVAL 2 SECOND "
            "WHERE name = 'rest_api_enabled'"
        )
    app = start(tmp_path, REDMINE_URL=url, REDMINE_API_KEY=key)
    assert app.extensions["task_backend"].name == "redmine"


def test_an_unreachable_redmine_at_start_up_starts_degraded(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with caplog.at_level("WARNING"):
        app = start(tmp_path, REDMINE_URL=f"http://127.0.0.1:{port}", REDMINE_API_KEY="k" * 40)
    warnings = [r.getMessage() for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert len(warnings) == 1
    assert app.extensions["task_backend"].name == "redmine"


# -- the seed's connector ------------------------------------------------------------------------


def test_seed_connector_lists_changes_and_creates_as_the_user(world: World, redmine_server):
    bob = world.actors["bob"]
    task = world.create("alice", "P2", "Seed script", assigned_to_id=bob.user_id)
    requests.put(
        f"{redmine_server.url}/users/{world.backend.user_ids.to_backend(bob.user_id)}.json",
        headers={"X-Redmine-API-Key": redmine_server.api_key},
        json={"user": {"password": "bob-password-1"}},
        timeout=30,
    ).raise_for_status()
    with pytest.raises(RedmineAuthError):
        create_redmine_connector(True, bob.login, "wrong-password")
    connector = create_redmine_connector(True, bob.login, "bob-password-1")
    assert connector is not None
    assert create_redmine_connector(False, bob.login, "bob-password-1") is None
    assert [t["subject"] for t in connector.get_user_tasks()] == ["Seed script"]
    moved = connector.update_task_status(task.id, world.statuses["Resolved"], "Done by script")
    assert moved["status_name"] == "Resolved"
    assert journal_authors(redmine_server, task.id) == [(bob.login, "Done by script")]
    assert connector.get_user_tasks(status_filter=[world.statuses["New"]]) == []
    created = connector.create_task(world.projects["P2"], "From a script", "Body")
    [(author,)] = redmine_server.sql(
        "SELECT u.login FROM issues i JOIN users u ON u.id = i.author_id WHERE i.id = :id",
        id=created["id"],
    )
    assert author == bob.login
    with pytest.raises(RedmineNotFoundError):
        connector.update_task_status(987654, 1)


def test_each_redmine_refusal_maps_to_its_error(world: World, redmine_server: RedmineServer):
    """Real answers of Redmine: 401 and 403 are 403, 404 is 404, 412 says the account is not
    linked, 422 carries Redmine's sentences by field."""
    admin = RedmineClient(redmine_server.url, redmine_server.api_key, timeout=10)
    with pytest.raises(TaskForbidden):  # 401: a key Redmine does not know
        RedmineClient(redmine_server.url, "0" * 40, timeout=10).get(
            "/users/current.json", shape=UserAnswer
        )
    with pytest.raises(TaskForbidden):  # 403: only administrators list custom fields
        admin.get(
            "/custom_fields.json", shape=CustomFieldsAnswer, as_login=world.actors["alice"].login
        )
    with pytest.raises(TaskNotFound):
        admin.get("/issues/987654.json", shape=IssueAnswer)
    with pytest.raises(NotLinked):
        admin.get("/issues.json", shape=IssuesPage, as_login="nobody_at_all")
    with pytest.raises(TaskValidationError) as invalid:
        admin.post(
            "/issues.json",
            {"issue": {"project_id": world.projects["P1"], "subject": ""}},
            shape=IssueAnswer,
        )
    assert invalid.value.status_code == 422
    assert invalid.value.payload["errors"]["subject"] == ["Subject cannot be blank"]
