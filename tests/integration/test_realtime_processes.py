"""Real server processes and a real Socket.IO client: a change made over HTTP reaches a socket
in the same gevent process (the single-machine default) or, through Redis, in another process."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import socketio

from conftest import demo_copy, require_service
from helpers import (
    helpdesk_serving,
    open_task_assigned_to,
    own_id,
    signed_in,
)

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

REDIS_URL = "redis://127.0.0.1:6379/0"


# `helpdesk serve` in production (gunicorn), plain HTTP on loopback
PRODUCTION = {
    "HELPDESK_ENV": "production",
    "SECRET_KEY": "test-secret-key-0123456789abcdef",
    "SESSION_COOKIE_SECURE": "false",
}


@pytest.fixture(scope="module")
def environment(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A demo site (one SQLite file, session files) on Redis, which the module's servers share:
    their tests change nothing another relies on."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        require_service("Redis", str(error))
    site = demo_copy(demo_template, tmp_path_factory.mktemp("realtime"))
    return {**site, "SOCKETIO_MESSAGE_QUEUE": REDIS_URL}


@contextmanager
def serving(environment: dict[str, str], count: int) -> Iterator[list[str]]:
    """`helpdesk serve` processes on their own ports, stopped at the end."""
    with ExitStack() as stack:
        yield [stack.enter_context(helpdesk_serving(environment))[0] for _ in range(count)]


@pytest.fixture(scope="module", params=["development", "gevent", "gthread"])
def servers(request: pytest.FixtureRequest, environment: dict[str, str]) -> Iterator[list[str]]:
    """Two servers sharing a Redis channel: Werkzeug's threads, or gunicorn's gevent or gthread
    worker; started once for the tests of each kind."""
    overrides = (
        {} if request.param == "development" else {**PRODUCTION, "WEB_WORKER": request.param}
    )
    channel = {"SOCKETIO_CHANNEL": f"helpdesk-test-{uuid.uuid4().hex}"}
    with serving({**environment, **overrides, **channel}, 2) as urls:
        yield urls


def assert_a_change_reaches_bob(first: str, second: str) -> None:
    """Alice changes one of bob's tasks through first; bob's socket on second hears it."""
    bob_http = signed_in(second, "bob")
    bob_id = own_id(second, bob_http)
    heard: dict[str, list[Any]] = {"new_notification": [], "task_status_changed": []}
    arrived = threading.Event()
    bob_socket = socketio.Client(reconnection=False)

    @bob_socket.on("new_notification", namespace="/notifications")
    def on_notification(data: Any) -> None:
        heard["new_notification"].append(data)
        arrived.set()

    @bob_socket.on("task_status_changed", namespace="/notifications")
    def on_move(data: Any) -> None:
        heard["task_status_changed"].append(data)

    cookie = "; ".join(f"{c.name}={c.value}" for c in bob_http.cookies)
    bob_socket.connect(
        second,
        namespaces=["/notifications"],
        headers={"Cookie": cookie},
        transports=["websocket"],
        wait_timeout=10,
    )
    try:
        alice_http = signed_in(first, "alice")
        task = open_task_assigned_to(first, alice_http, bob_id)
        target = 3 if task["status_id"] != 3 else 2
        response = alice_http.put(
            f"{first}/tasks/api/task/{task['id']}/status",
            json={"status_id": target},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert arrived.wait(10), "bob's socket on the other server heard nothing"
        note = heard["new_notification"][0]
        assert note["issue_id"] == task["id"]
        assert note["unread_count"] >= 1
        time.sleep(0.5)
        assert [m["task_id"] for m in heard["task_status_changed"]] == [task["id"]]
    finally:
        bob_socket.disconnect()


def test_a_change_on_one_server_reaches_a_socket_on_the_other(servers: list[str]) -> None:
    assert_a_change_reaches_bob(*servers)


def test_one_production_process_without_a_queue_delivers_to_its_own_sockets(
    demo_site: dict[str, str],
) -> None:
    """One gevent process, no Redis: its own sockets hear its changes."""
    with serving({**demo_site, **PRODUCTION, "WEB_WORKER": "gevent"}, 1) as (url,):
        assert_a_change_reaches_bob(url, url)


def test_a_socket_without_a_session_is_refused(servers: list[str]) -> None:
    stranger = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        stranger.connect(
            servers[0], namespaces=["/notifications"], transports=["websocket"], wait_timeout=5
        )


class Page:
    """A browser page's socket on one server, signed in as the session's user, recording every
    event it hears."""

    def __init__(self, url: str, http: requests.Session) -> None:
        self.heard: dict[str, list[Any]] = {}
        self.arrived = threading.Condition()
        self.socket = socketio.Client(reconnection=False)
        self.socket.on("*", self.record, namespace="/notifications")
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
        self.socket.connect(
            url,
            namespaces=["/notifications"],
            headers={"Cookie": cookie},
            transports=["websocket"],
            wait_timeout=10,
        )

    def record(self, event: str, data: Any = None) -> None:
        """Keep what arrived and wake whoever waits for it."""
        with self.arrived:
            self.heard.setdefault(event, []).append(data)
            self.arrived.notify_all()

    def wait_for(self, event: str, count: int = 1, seconds: float = 10) -> list[Any]:
        """The first count payloads of event, waiting for them to arrive."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.heard.get(event, [])) >= count, seconds)
            return list(self.heard.get(event, []))

    def join_project(self, project_id: int) -> dict[str, Any]:
        """Ask for the project's room, as the board does, and return the server's answer."""
        self.socket.emit("join_project", {"project_id": project_id}, namespace="/notifications")
        (answer,) = self.wait_for("joined_project")
        self.heard.pop("joined_project")
        return dict(answer)

    def close(self) -> None:
        """Close the page's socket."""
        self.socket.disconnect()


def project_id_of(url: str, http: requests.Session, identifier: str) -> int:
    """The id of a demo project, by its identifier."""
    projects = http.get(f"{url}/tasks/api/projects", timeout=10).json()["data"]
    return next(int(p["id"]) for p in projects if p["identifier"] == identifier)


def a_task_not_concerning(url: str, http: requests.Session, project_id: int, user_id: int) -> Any:
    """An open task of the project whose author, assignee and watchers do not include the user:
    only the project's room can tell that user's board of its moves."""
    listed = http.get(
        f"{url}/tasks/api/tasks",
        params={"project": project_id, "status": "open", "per_page": 100},
        timeout=10,
    ).json()["data"]["tasks"]
    for row in listed:
        task = http.get(f"{url}/tasks/api/task/{row['id']}", timeout=10).json()["data"]
        if user_id not in {task["author_id"], task["assigned_to_id"], *task["watcher_ids"]}:
            return task
    raise AssertionError("the demo data has web-portal tasks that are not bob's")


@pytest.fixture
def gevent_servers(environment: dict[str, str]) -> Iterator[list[str]]:
    """Two production servers (gunicorn's gevent worker) sharing Redis: rooms work the same in
    every layout, which the tests above already cover."""
    with serving({**environment, **PRODUCTION, "WEB_WORKER": "gevent"}, 2) as urls:
        yield urls


def test_a_board_keeps_moving_after_another_tab_of_its_user_closes_on_the_other_process(
    gevent_servers: list[str],
) -> None:
    """bob has a board open on one process and another tab on the other; the tab closes. His
    board still hears a move of a task that is not his (it hears it through the project's room;
    the closing tab used to mark him offline, and a board of an offline user missed moves)."""
    first, second = gevent_servers
    bob_first, bob_second = signed_in(first, "bob"), signed_in(second, "bob")
    bob_id = own_id(first, bob_first)
    web = project_id_of(first, bob_first, "web-portal")
    board = Page(first, bob_first)
    other_tab = Page(second, bob_second)
    try:
        assert board.join_project(web) == {"status": "success", "project_id": web}
        other_tab.close()
        time.sleep(0.5)  # the other process has seen the tab go
        alice = signed_in(second, "alice")
        task = a_task_not_concerning(second, alice, web, bob_id)
        target = 3 if task["status_id"] != 3 else 2
        response = alice.put(
            f"{second}/tasks/api/task/{task['id']}/status", json={"status_id": target}, timeout=10
        )
        assert response.status_code == 200, response.text
        moves = board.wait_for("task_status_changed")
        assert [(m["task_id"], m["new_status_id"]) for m in moves] == [(task["id"], target)]
        assert "new_notification" not in board.heard  # not one of the task's people
    finally:
        board.close()


def test_a_non_member_is_refused_a_project_room_on_any_process(
    gevent_servers: list[str],
) -> None:
    """alice is not in infrastructure: her join is refused, and bob's moves there pass her by."""
    first, second = gevent_servers
    alice_http, bob_http = signed_in(first, "alice"), signed_in(second, "bob")
    bob_id = own_id(second, bob_http)
    infra = project_id_of(second, bob_http, "infrastructure")
    page = Page(first, alice_http)
    try:
        answer = page.join_project(infra)
        assert answer["status"] == "error"
        assert answer["message"]
        listed = bob_http.get(
            f"{second}/tasks/api/tasks",
            params={"project": infra, "assigned_to": bob_id, "status": "open", "per_page": 1},
            timeout=10,
        ).json()["data"]["tasks"]
        task = listed[0]
        target = 3 if task["status_id"] != 3 else 2
        response = bob_http.put(
            f"{second}/tasks/api/task/{task['id']}/status", json={"status_id": target}, timeout=10
        )
        assert response.status_code == 200, response.text
        time.sleep(1)
        assert page.heard == {}
    finally:
        page.close()
