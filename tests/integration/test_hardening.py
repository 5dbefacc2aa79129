"""Hostile input and small leaks (issue 24's low findings): each gets a clear 4xx, never a 500,
and tells an attacker nothing."""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from task_api_support import CLOSED, IN_PROGRESS, NEW, World, as_user, build_world

from conftest import BROWSER, PASSWORD
from helpdesk.core import images
from helpdesk.users.models import User
from helpdesk.worker import JOBS, run_job
from helpers import image_bytes


@pytest.mark.parametrize("path", ["/users/login", "/users/register", "/no-such-page"])
def test_anonymous_pages_create_no_server_side_session(
    app: Flask, client: FlaskClient, path: str
) -> None:
    response = client.get(path, headers=BROWSER)
    assert response.status_code in (200, 404)
    assert "session=" not in response.headers.get("Set-Cookie", "")
    folder = Path(app.instance_path) / "sessions"
    assert not folder.exists() or not list(folder.iterdir())


def test_the_origin_check_compares_the_scheme(client: FlaskClient) -> None:
    # The test server is http://localhost: a page of https://localhost is another origin.
    response = client.post("/language/en", headers={"Origin": "https://localhost"})
    assert response.status_code == 403
    assert client.post("/language/en", headers={"Origin": "http://localhost"}).status_code == 302


def test_expired_session_files_are_removed(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], login: Any
) -> None:
    login(make_user("alice"))
    folder = Path(app.instance_path) / "sessions"
    [current] = list(folder.iterdir())
    stale = folder / "0123456789abcdef"
    stale.write_bytes(current.read_bytes())
    long_ago = time.time() - app.permanent_session_lifetime.total_seconds() - 60
    os.utime(stale, (long_ago, long_ago))

    [job] = [job for job in JOBS if job.name == "expire_sessions"]
    assert run_job(app, job) == "ran"

    assert list(folder.iterdir()) == [current]
    assert client.get("/tasks/api/notifications").status_code == 200


# -- input any client can send ----------------------------------------------------------------

ENGLISH = {"Accept-Language": "en"}
LONG_PASSWORD = "ä" * 40  # 80 bytes: more than bcrypt takes


@pytest.mark.parametrize("body", ["json", "form"])
def test_a_password_longer_than_bcrypt_takes_is_a_wrong_password(
    client: FlaskClient, make_user: Callable[..., User], body: str
) -> None:
    make_user("alice")
    fields = {"username": "alice", "password": LONG_PASSWORD}
    if body == "json":
        response = client.post("/users/login", json=fields)
    else:
        response = client.post("/users/login", data=fields)
    assert response.status_code == 401


def test_a_long_current_password_at_password_change_is_a_wrong_password(
    client: FlaskClient, make_user: Callable[..., User], login: Any
) -> None:
    login(make_user("alice"))
    response = client.post(
        "/users/password",
        json={
            "current_password": LONG_PASSWORD,
            "new_password": "purple-otter-77",
            "confirm_password": "purple-otter-77",
        },
    )
    assert response.status_code == 422
    assert "current_password" in response.get_json()["errors"]


INT_PART = re.compile(r"<int:(\w+)>")


def int_routes(app: Flask) -> list[tuple[str, str]]:
    """(method, rule) of every route with an <int:…> part."""
    return [
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if INT_PART.search(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]


@pytest.mark.parametrize("number", [2**31, 2**63, 10**30])
def test_ids_beyond_the_databases_integers_name_nothing(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], login: Any, number: int
) -> None:
    login(make_user("admin", is_admin=True, is_redmine_user=True))
    routes = int_routes(app)
    assert len(routes) >= 15
    for method, rule in routes:
        path = INT_PART.sub(str(number), rule)
        response = client.open(path, method=method, json={})
        assert response.status_code == 404, (method, path, response.status_code)


@pytest.mark.parametrize(
    "path", ["/", "/users/profile/alice", "/notifications", "/admin/users", "/tasks/my-tasks"]
)
@pytest.mark.parametrize("page", ["2147483648", "9223372036854775808", "10" * 20, "-5"])
def test_huge_page_numbers_answer_without_error(
    client: FlaskClient, make_user: Callable[..., User], login: Any, path: str, page: str
) -> None:
    login(make_user("alice", is_admin=True, is_redmine_user=True))
    response = client.get(path, query_string={"page": page}, headers=BROWSER)
    assert response.status_code in (200, 400)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"username": "\\ud800", "password": "x"}',
        b'{"\\udc00": "alice", "password": "x"}',
        b'{"username": "a\\udfffb", "password": "x"}',
    ],
)
@pytest.mark.parametrize("path", ["/users/login", "/users/register", "/tasks/api/task"])
def test_lone_surrogates_in_json_are_refused(
    client: FlaskClient, make_user: Callable[..., User], login: Any, path: str, raw: bytes
) -> None:
    if path.startswith("/tasks"):
        login(make_user("alice", is_redmine_user=True))
    response = client.post(path, data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["success"] is False


@pytest.mark.parametrize("depth", [33, 5_000, 200_000])
@pytest.mark.parametrize("path", ["/users/login", "/tasks/api/push-unsubscribe"])
def test_deeply_nested_json_is_refused(
    client: FlaskClient, make_user: Callable[..., User], login: Any, path: str, depth: int
) -> None:
    login(make_user("alice"))
    raw = '{"a":' * depth + "1" + "}" * depth
    response = client.post(path, data=raw, content_type="application/json", headers=ENGLISH)
    assert response.status_code == 400
    assert "nested" in response.get_json()["message"]


def test_json_of_normal_depth_still_works(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    response = client.post("/users/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "target", ["/x%0d%0aSet-Cookie:%20a=b", "/x%0aLocation:%20http://evil", "/a%09b", "/%7f"]
)
def test_control_characters_in_next_fall_back_to_the_home_page(
    client: FlaskClient, make_user: Callable[..., User], login: Any, target: str
) -> None:
    login(make_user("alice"))
    response = client.get(f"/users/login?next={target}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/tasks/my-tasks"
    make_user("bob")
    answer = client.post(
        f"/users/login?next={target}", json={"username": "bob", "password": PASSWORD}
    )
    assert answer.get_json()["redirect"] == "/tasks/my-tasks"


# -- creating tasks ----------------------------------------------------------------------------


@pytest.fixture
def world(make_user: Callable[..., User]) -> World:
    """Projects, members, the Reporter role's workflow (see task_api_support.build_world)."""
    return build_world(make_user)


def test_creating_a_task_does_not_tell_whether_a_project_exists(
    app: Flask, login: Any, world: World
) -> None:
    dave = as_user(app, login, world.users["dave"])  # a member of nothing
    answers = []
    for project_id in (world.projects["infra"], 999_999):
        response = dave.post("/tasks/api/task", json={"project_id": project_id, "subject": "x"})
        answers.append((response.status_code, response.get_json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 422


def test_a_task_starts_only_in_a_status_the_roles_workflow_allows(
    app: Flask, login: Any, world: World
) -> None:
    rita = as_user(app, login, world.users["rita"])  # Reporter: New -> In Progress -> Resolved
    web = world.projects["web"]
    closed = rita.post(
        "/tasks/api/task", json={"project_id": web, "subject": "x", "status_id": CLOSED}
    )
    assert closed.status_code == 422
    assert "status_id" in closed.get_json()["errors"]
    for status_id in (NEW, IN_PROGRESS):
        response = rita.post(
            "/tasks/api/task", json={"project_id": web, "subject": "x", "status_id": status_id}
        )
        assert response.status_code == 201, response.get_json()
    admin = as_user(app, login, world.users["admin"])
    response = admin.post(
        "/tasks/api/task", json={"project_id": web, "subject": "x", "status_id": CLOSED}
    )
    assert response.status_code == 201


# -- headers -----------------------------------------------------------------------------------


def connect_sources(response: Any) -> list[str]:
    """The connect-src sources of a response's Content-Security-Policy."""
    for part in response.headers["Content-Security-Policy"].split(";"):
        words = part.split()
        if words and words[0] == "connect-src":
            return words[1:]
    raise AssertionError("no connect-src")


def test_pages_may_open_websockets_to_their_own_host_only(client: FlaskClient) -> None:
    sources = connect_sources(client.get("/users/login", headers=BROWSER))
    assert sources == ["'self'", "ws://localhost", "wss://localhost"]
    secure = client.get("/users/login", base_url="https://help.example:8443", headers=BROWSER)
    assert connect_sources(secure) == ["'self'", "wss://help.example:8443"]


def test_a_strange_host_header_gets_no_websocket_source(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"Host": "a b;script-src *"})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert connect_sources(response) == ["'self'"]


# -- image uploads -----------------------------------------------------------------------------


def post_avatar(client: FlaskClient, data: bytes) -> Any:
    """Upload data as the signed-in user's avatar (JSON answer)."""
    body = {"picture": (io.BytesIO(data), "avatar.png"), "username": "alice"}
    return client.post(
        "/users/account",
        data={**body, "email": "alice@example.com"},
        headers={"Accept": "application/json", "Accept-Language": "en"},
        content_type="multipart/form-data",
    )


def test_a_small_file_that_decodes_to_twenty_megapixels_is_refused(
    client: FlaskClient, make_user: Callable[..., User], login: Any
) -> None:
    login(make_user("alice"))
    bomb = image_bytes(size=(5_000, 4_000), mode="1", color=0)  # a few kB, 20 Mpx
    assert len(bomb) < 100_000
    response = post_avatar(client, bomb)
    assert response.status_code == 400
    assert "pixels" in response.get_json()["message"]


def test_images_wait_for_a_decoding_slot_and_are_refused_when_none_frees(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., User],
    login: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    login(make_user("alice"))
    app.config["IMAGE_DECODE_CONCURRENCY"] = 1
    slots = images.DecodingSlots()
    monkeypatch.setattr(images, "decoding", slots)
    monkeypatch.setattr(images, "DECODE_WAIT_SECONDS", 0.2)
    with app.test_request_context(), slots.slot():  # another upload is being decoded
        busy = post_avatar(client, image_bytes())
    assert busy.status_code == 400
    assert "busy" in busy.get_json()["message"]
    assert post_avatar(client, image_bytes()).status_code == 200
