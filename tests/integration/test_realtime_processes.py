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
