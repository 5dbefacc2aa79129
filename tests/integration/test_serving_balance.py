"""Two serving processes both take connections: each listens on its own socket (gunicorn's
reuse_port) and the kernel spreads new connections among them, where with one shared socket the
first process to wake could take them all and keep them (keep-alive)."""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask

from conftest import require_service
from helpers import helpdesk_serving

REDIS_URL = "redis://127.0.0.1:6379/0"
TCP_ESTABLISHED = "01"
CLIENTS = 24  # all on one process by chance: 2 in 2**24


@pytest.fixture(params=["gevent", "gthread"])
def server(
    request: pytest.FixtureRequest, app: Flask, postgresql_only: None, tmp_path: Path
) -> Iterator[tuple[int, int]]:
    """`helpdesk serve` in production with two processes on PostgreSQL and Redis (several
    processes need both), gunicorn's gevent or gthread worker: (master pid, port)."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        require_service("Redis", str(error))
    env = {
        **os.environ,
        "HELPDESK_ENV": "production",
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
        "HELPDESK_INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "LOG_REQUESTS": "false",
        "SOCKETIO_MESSAGE_QUEUE": REDIS_URL,
        "SOCKETIO_CHANNEL": f"helpdesk-test-{uuid.uuid4().hex}",
        "CACHE_TYPE": "RedisCache",  # several processes: WEB_CONCURRENCY needs the shared cache
        "CACHE_REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": f"helpdesk-test-{uuid.uuid4().hex}:",
        "WEB_WORKER": request.param,
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
    answer = client.recv(65536)
    while b"\r\n\r\n" not in answer:
        answer += client.recv(65536)
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    assert length is not None
    while len(body) < int(length.group(1)):  # the body may come in a segment of its own
        body += client.recv(65536)
    return client


def test_both_processes_take_keep_alive_clients(server: tuple[int, int]) -> None:
    master, port = server
    workers = workers_of(master)
    clients = [keep_alive_client(port) for _ in range(CLIENTS)]
    try:
        held = connections_held(workers, port)
        assert sum(held) == CLIENTS
        assert min(held) > 0, held
    finally:
        for client in clients:
            client.close()


def test_answers_do_not_name_the_server_software(server: tuple[int, int]) -> None:
    _master, port = server
    client = keep_alive_client(port)
    client.sendall(b"GET /users/login HTTP/1.1\r\nHost: localhost\r\n\r\n")
    head = client.recv(65536).split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    client.close()
    assert "gunicorn" not in head
    assert "server: helpdesk" in head.splitlines()
