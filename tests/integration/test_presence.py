"""Presence: `online` follows open sockets, `last_seen` follows requests, writes are throttled."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, update

from helpdesk.core.models import utcnow
from helpdesk.extensions import db, socketio
from helpdesk.notifications.realtime import NAMESPACE
from helpdesk.users.models import User
from helpdesk.users.presence import close_presence, expire_presence, presence
from helpdesk.worker import JOBS, run_job
from helpers import JSON, user_row

LONG_AGO = datetime(2020, 1, 1)


def set_presence(user: User, online: bool, last_seen: datetime) -> None:
    """Put a user's presence columns in a known state."""
    db.session.execute(
        update(User).where(User.id == user.id).values(online=online, last_seen=last_seen)
    )
    db.session.commit()


def open_socket(app: Flask, http: FlaskClient) -> Any:
    """A Socket.IO client on the notifications namespace with the HTTP client's session."""
    with app.app_context():
        return socketio.test_client(app, namespace=NAMESPACE, flask_test_client=http)


def close_socket(app: Flask, sock: Any) -> None:
    """Disconnect as a browser tab closing would."""
    with app.app_context():
        sock.disconnect(namespace=NAMESPACE)


def row_once(user_id: int, settled: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The user's row once presence, written in the background, has settled (or after 5 s)."""
    deadline = time.monotonic() + 5
    while not settled(row := user_row(user_id)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return row


def test_online_follows_the_users_open_sockets(app, make_user, login) -> None:
    alice = make_user()
    first_tab, second_tab = app.test_client(), app.test_client()
    login(alice, the_client=first_tab)
    login(alice, the_client=second_tab)
    set_presence(alice, False, LONG_AGO)

    one = open_socket(app, first_tab)
    assert one.is_connected(NAMESPACE)
    row = row_once(alice.id, lambda row: row["online"])
    assert row["online"] is True
    assert row["last_seen"] > LONG_AGO

    two = open_socket(app, second_tab)
    close_socket(app, one)
    time.sleep(0.2)  # time enough for a wrong write to land
    assert user_row(alice.id)["online"] is True, "a second tab is still open"

    close_socket(app, two)
    assert row_once(alice.id, lambda row: not row["online"])["online"] is False


def test_requests_update_last_seen_at_most_once_per_interval(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], login: Any
) -> None:
    alice = make_user()
    login(alice)
    app.config["PRESENCE_INTERVAL"] = 3600
    with app.app_context():
        presence().flush()
    set_presence(alice, False, LONG_AGO)

    assert client.get("/users/account", headers=JSON).status_code == 200
    assert user_row(alice.id)["last_seen"] == LONG_AGO, "remembered, not yet written"

    app.config["PRESENCE_INTERVAL"] = 0
    assert client.get("/users/account", headers=JSON).status_code == 200
    row = row_once(alice.id, lambda row: row["last_seen"] > LONG_AGO)
    assert row["last_seen"] > LONG_AGO
    assert row["online"] is False, "a request alone does not make anyone online"


def test_anonymous_requests_write_nothing(app: Flask, client: FlaskClient, make_user) -> None:
    bob = make_user()
    set_presence(bob, False, LONG_AGO)
    app.config["PRESENCE_INTERVAL"] = 0
    assert client.get("/users/login").status_code == 200
    assert user_row(bob.id)["last_seen"] == LONG_AGO


def test_expiry_sets_offline_only_users_whose_server_stopped_beating(app, make_user) -> None:
    gone, here, offline = make_user(), make_user(), make_user()
    set_presence(gone, True, utcnow() - timedelta(hours=1))
    set_presence(here, True, utcnow())
    set_presence(offline, False, LONG_AGO)

    assert expire_presence() == 1
    assert user_row(gone.id)["online"] is False
    assert user_row(here.id)["online"] is True
    assert user_row(offline.id)["last_seen"] == LONG_AGO


def test_the_admin_user_list_shows_who_is_online_and_when_others_were_seen(
    client: FlaskClient, make_user: Callable[..., User], login: Any
) -> None:
    admin = make_user("boss", is_admin=True)
    online, away = make_user("online1"), make_user("away1")
    set_presence(online, True, utcnow())
    set_presence(away, False, datetime(2026, 3, 1, 9, 30))
    login(admin)
    page = client.get("/admin/users", headers={**JSON, "Accept": "text/html"}).get_data(
        as_text=True
    )
    online_row = page[page.index("@online1") :].split("</tr>")[0]
    away_row = page[page.index("@away1") :].split("</tr>")[0]
    assert ">online<" in online_row
    assert "3/1/26, 12:30\u202fPM" in away_row  # in the office's time zone (Moscow, UTC+3)
    assert ">online<" not in away_row


def test_presence_writes_take_the_sqlite_write_lock_at_begin(app: Flask, make_user) -> None:
    """Presence writes outside any request, in a transaction that takes the writer at BEGIN: a
    deferred BEGIN would wait for the lock inside SQLite, stalling a gevent worker."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's locking only; PostgreSQL locks rows")
    alice_id = make_user().id
    statements: list[str] = []

    def trace(dbapi_connection: Any, *_args: Any) -> None:
        """SQLite's own record of what it runs, BEGIN included (sent past SQLAlchemy)."""
        dbapi_connection.set_trace_callback(statements.append)

    def untrace(dbapi_connection: Any, *_args: Any) -> None:
        dbapi_connection.set_trace_callback(None)

    db.session.rollback()  # the test's session gives its connection back
    event.listen(db.engine, "checkout", trace)
    event.listen(db.engine, "checkin", untrace)
    try:
        with app.test_request_context("/"):
            presence().socket_opened(alice_id)  # its write is a background task's
            presence().socket_closed(alice_id)
        presence().write(app)  # as that task does, here to wait for it
        run_job(app, next(job for job in JOBS if job.name == "expire_presence"))
    finally:
        event.remove(db.engine, "checkout", trace)
        event.remove(db.engine, "checkin", untrace)
    begins = {s for s in statements if s.startswith("BEGIN")}
    assert begins == {"BEGIN IMMEDIATE"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("put", "/tasks/api/notifications/999999/read", 404),
        ("delete", "/tasks/api/notifications/999999", 404),
    ],
)
def test_a_writing_request_that_fails_is_answered_at_once_when_presence_is_due(
    app: Flask, client: FlaskClient, make_user, login, method: str, path: str, status: int
) -> None:
    """The request's transaction is still open when its presence is noted: a presence write on
    a connection of its own then waited for the request's own lock (500 after 5 s on SQLite)."""
    alice = make_user()
    login(alice)
    set_presence(alice, False, LONG_AGO)
    app.config["PRESENCE_INTERVAL"] = 0
    started = time.monotonic()
    response = getattr(client, method)(path, headers=JSON)
    elapsed = time.monotonic() - started
    assert response.status_code == status, response.get_data(as_text=True)
    assert elapsed < 2, f"answered after {elapsed:.1f} s"
    assert row_once(alice.id, lambda row: row["last_seen"] > LONG_AGO)["last_seen"] > LONG_AGO


def hold_user_row(user_id: int, seconds: float) -> threading.Timer:
    """Lock the user's row (SQLite: the database's writer) on a connection of its own, and let
    it go after the given seconds, as a long transaction of another request would."""
    db.session.rollback()
    connection = db.engine.connect()
    transaction = connection.begin()
    connection.execute(update(User).where(User.id == user_id).values(department="held"))

    def release() -> None:
        transaction.commit()
        connection.close()

    timer = threading.Timer(seconds, release)
    timer.start()
    return timer


def test_closing_waits_for_the_writes_still_running(app: Flask, make_user) -> None:
    """A write still waiting for a lock when the app ends is waited for, not left to run on
    after its app and database are gone."""
    alice = make_user()
    set_presence(alice, False, LONG_AGO)
    app.config["PRESENCE_INTERVAL"] = 0
    timer = hold_user_row(alice.id, 0.5)
    with app.test_request_context("/"):
        presence().request_seen(alice.id)
    started = time.monotonic()
    close_presence(app)
    waited = time.monotonic() - started
    timer.join()
    assert waited >= 0.3, "close waited for the write held up by the lock"
    assert user_row(alice.id)["last_seen"] > LONG_AGO

    set_presence(alice, False, LONG_AGO)
    with app.test_request_context("/"):
        presence().request_seen(alice.id)
    time.sleep(0.2)  # time enough for a wrong write to land
    assert user_row(alice.id)["last_seen"] == LONG_AGO, "a closed tracker starts no write"


def test_closing_ends_the_beat_of_open_sockets(app: Flask, make_user) -> None:
    alice_id = make_user().id
    db.session.rollback()  # the test's session lets the writer go, for the first write
    app.config["PRESENCE_INTERVAL"] = 3600
    with app.test_request_context("/"):
        presence().socket_opened(alice_id)  # starts the beat, which would sleep an hour
    started = time.monotonic()
    close_presence(app, timeout=5)
    assert time.monotonic() - started < 2
