"""Two gevent serving processes share the connections evenly (helpdesk/balance.py), where the
first to wake used to take them: keep-alive clients then stayed piled on one process."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from conftest import require_service
from helpers import helpdesk_serving

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

REDIS_URL = "redis://127.0.0.1:6379/0"
TCP_ESTABLISHED = "01"


@pytest.fixture
def server(demo_site: dict[str, str]) -> Iterator[tuple[int, int]]:
    """`helpdesk serve` in production with two gevent processes on Redis: (master pid, port)."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        require_service("Redis", str(error))
    env = {
        **demo_site,
        "HELPDESK_ENV": "production",
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
        "SOCKETIO_MESSAGE_QUEUE": REDIS_URL,
        "SOCKETIO_CHANNEL": f"helpdesk-test-{uuid.uuid4().hex}",
        "WEB_WORKER": "gevent",
        "WEB_CONCURRENCY": "2",
    }
    with helpdesk_serving(env) as (url, process):
        yield process.pid, int(url.rsplit(":", 1)[1])


def workers_of(master: int) -> list[int]:
    """The worker processes gunicorn forked."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if len(children) == 2:
            return [int(pid) for pid in children]
        time.sleep(0.1)
    raise AssertionError("gunicorn did not fork two workers")


def connections_held(pids: list[int], port: int) -> list[int]:
    """How many established connections to the port each process holds."""
    sockets = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == TCP_ESTABLISHED:
            sockets.add(f"socket:[{fields[9]}]")
    held = []
    for pid in pids:
        descriptors = Path(f"/proc/{pid}/fd").iterdir()
        held.append(sum(1 for fd in descriptors if os.readlink(fd) in sockets))
    return held


def keep_alive_client(port: int) -> socket.socket:
    """A client that made one request and keeps its connection open, as a browser or wrk does."""
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    client.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert client.recv(65536).startswith(b"HTTP/1.1 200")
    return client


def test_eight_keep_alive_clients_land_four_on_each_process(server: tuple[int, int]) -> None:
    master, port = server
    workers = workers_of(master)
    for _round in range(3):
        clients = [keep_alive_client(port) for _ in range(8)]
        try:
            assert sorted(connections_held(workers, port)) == [4, 4]
        finally:
            for client in clients:
                client.close()
        time.sleep(0.3)  # the processes see the connections close
