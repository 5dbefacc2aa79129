"""Redis away (stopped, or not answering): pages for signed-out visitors render, requests that
need a session or the cache get a clear 503 within a second or two, and everything recovers
without a restart when Redis is back; pages are told to re-sync when the message queue returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask

from conftest import PASSWORD, RequestScopedClient
from helpdesk import create_app
from helpdesk.extensions import db, socketio
from helpdesk.notifications.bus import RESYNC_EVENT, BusWatch, check_bus
from helpdesk.notifications.realtime import (
    NAMESPACE,
    message_queue,
    send_notification_to_user,
)
from helpdesk.users.models import User
from redis_server import OwnRedis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A Redis of this test's own."""
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.process is not None:
        server.thaw()
    server.stop()


@pytest.fixture
def redis_app(app: Flask, own_redis: OwnRedis) -> Iterator[Flask]:
    """The app with sessions, cache and rate limits in the test's Redis."""
    application = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        SESSION_TYPE="redis",
        SESSION_REDIS_URL=own_redis.url,
        CACHE_TYPE="RedisCache",
        CACHE_REDIS_URL=own_redis.url,
        RATELIMIT_STORAGE_URI=own_redis.url,
    )
    application.test_client_class = RequestScopedClient
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()  # its own pool on the test's database: closed, not left to the GC


def test_pages_degrade_clearly_while_redis_is_stopped_and_recover_without_a_restart(
    redis_app: Flask, own_redis: OwnRedis, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    alice = redis_app.test_client()
    credentials = {"username": "alice", "password": PASSWORD}
    assert alice.post("/users/login", json=credentials).status_code == 200
    assert alice.get("/tasks/api/notifications").status_code == 200

    own_redis.stop()
    started = time.monotonic()
    assert redis_app.test_client().get("/users/login").status_code == 200
    assert alice.get("/users/login").status_code == 200
    api = alice.get("/tasks/api/notifications", headers={"Accept-Language": "en"})
    assert api.status_code == 503
    assert "try again" in api.get_json()["message"]
    page = alice.get("/tasks/my-tasks", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert "text/html" in page.content_type
    signing_in = redis_app.test_client().post("/users/login", json=credentials)
    assert signing_in.status_code == 503
    assert time.monotonic() - started < 10

    own_redis.start()  # a fresh Redis: the sessions it held are gone, the app needs no restart
    assert alice.get("/tasks/api/notifications").status_code == 401
    assert alice.post("/users/login", json=credentials).status_code == 200
    assert alice.get("/tasks/api/notifications").status_code == 200


def test_a_redis_that_stops_answering_costs_a_request_about_a_second(
    redis_app: Flask, own_redis: OwnRedis, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    alice = redis_app.test_client()
    assert alice.post("/users/login", json={"username": "alice", "password": PASSWORD}).status_code
    own_redis.freeze()
    started = time.monotonic()
    assert alice.get("/tasks/api/notifications").status_code == 503
    assert time.monotonic() - started < 3 * redis_app.config["REDIS_TIMEOUT"] + 1
    own_redis.thaw()
    assert alice.get("/tasks/api/notifications").status_code == 200


def test_a_publish_to_a_message_queue_that_stops_answering_gives_up_in_seconds(
    app: Flask, own_redis: OwnRedis
) -> None:
    # the queue's managers alone, on an app of their own: the shared Socket.IO server stays as
    # the other tests configured it (its test client refuses a queue)
    queued = Flask(__name__)
    queued.config.update(
        SOCKETIO_MESSAGE_QUEUE=own_redis.url, SOCKETIO_CHANNEL="outage-test", REDIS_TIMEOUT=0.5
    )
    message_queue(queued)
    with queued.app_context():
        send_notification_to_user(1, {"message": "queue up"})  # connected while it answers
    own_redis.freeze()
    finished = threading.Event()

    def notify() -> None:
        with queued.app_context():
            send_notification_to_user(1, {"message": "queue frozen"})
        finished.set()

    threading.Thread(target=notify, daemon=True).start()
    # two attempts of REDIS_TIMEOUT each, then the event is dropped with a log line
    assert finished.wait(4 * queued.config["REDIS_TIMEOUT"] + 2)


def test_pages_are_told_to_resync_when_the_message_queue_is_back(
    app: Flask, own_redis: OwnRedis, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    http = app.test_client()
    assert http.post("/users/login", json={"username": "alice", "password": PASSWORD})
    page = socketio.test_client(app, namespace=NAMESPACE, flask_test_client=http)
    assert page.is_connected(NAMESPACE)
    page.get_received(NAMESPACE)
    watch = BusWatch(own_redis.url, timeout=0.5)

    assert check_bus(watch, NAMESPACE) is False  # up all along: nothing to say
    own_redis.stop()
    assert check_bus(watch, NAMESPACE) is False
    assert check_bus(watch, NAMESPACE) is False
    assert page.get_received(NAMESPACE) == []
    own_redis.start()
    assert check_bus(watch, NAMESPACE) is True
    assert check_bus(watch, NAMESPACE) is False  # once
    assert [event["name"] for event in page.get_received(NAMESPACE)] == [RESYNC_EVENT]
    page.disconnect(NAMESPACE)
    watch.client.close()


def test_the_resync_waits_until_this_process_hears_the_queue_again(own_redis: OwnRedis) -> None:
    watch = BusWatch(own_redis.url, timeout=0.5, listener_name="helpdesk-listener-test")
    own_redis.stop()
    assert watch.recovered() is False
    own_redis.start()
    # Redis answers, but the listener (retrying on its own schedule) has not subscribed yet:
    # events published now would still miss this process's pages
    assert watch.recovered() is False
    assert watch.recovered() is False
    listener = redis.Redis.from_url(own_redis.url, client_name="helpdesk-listener-test")
    subscription = listener.pubsub()
    subscription.subscribe("socketio")
    assert watch.recovered() is True
    assert watch.recovered() is False  # once
    subscription.close()
    listener.close()
    watch.client.close()
