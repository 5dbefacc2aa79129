"""A request reads its signed-in user at most once, and not at all while the user's snapshot is in
the cache; every change to a user, made by any process through any writer, counts from the very
next request in every other process (the cache on Redis, as several processes share it)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, update

from conftest import PASSWORD, REDIS_URL, RequestScopedClient
from helpdesk import create_app
from helpdesk.extensions import db
from helpdesk.integrations.erp import apply_profile
from helpdesk.users.models import User
from helpers import JSON

ACCOUNT = "/users/account"
NOTIFICATIONS = "/tasks/api/notifications"  # a page that needs only the snapshot
HOME = "/"  # HTML: the navigation names the signed-in user
ADMIN = "/admin/users"
USER_TABLE = re.compile(r'^\s*SELECT\s.*\sFROM\s+"?user"?(\s|$)', re.DOTALL)


@contextmanager
def user_queries() -> Iterator[list[str]]:
    """The statements that read the user table inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if USER_TABLE.search(statement):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def alice(make_user, login) -> User:
    """Alice, signed in on the client."""
    user = make_user("alice", department="Sales", full_name="Alice Archer")
    login(user)
    return user


def test_a_cached_snapshot_spares_the_user_read(client, alice):
    with user_queries() as seen:
        assert client.get(NOTIFICATIONS, headers=JSON).status_code == 200
    assert len(seen) <= 1, seen  # signing in changed the user: the snapshot is read once
    for _ in range(2):
        with user_queries() as seen:
            assert client.get(NOTIFICATIONS, headers=JSON).status_code == 200
        assert seen == []


def test_a_page_that_changes_the_user_reads_them_once(client, alice):
    client.get(NOTIFICATIONS, headers=JSON)  # the snapshot is cached
    with user_queries() as seen:
        assert client.get(ACCOUNT, headers=JSON).get_json()["data"]["department"] == "Sales"
    assert len(seen) == 1, seen


def test_a_change_through_the_session_shows_on_the_next_request(client, alice):
    assert "Alice Archer" in client.get(HOME).get_data(as_text=True)
    db.session.execute(update(User).where(User.id == alice.id).values(full_name="Alice Baker"))
    db.session.commit()
    page = client.get(HOME).get_data(as_text=True)
    assert "Alice Baker" in page
    assert "Alice Archer" not in page


# -- two processes sharing the cache in Redis --------------------------------------------------


@pytest.fixture
def processes(app: Flask, prefix: str) -> Iterator[tuple[Flask, Flask]]:
    """Two apps on the test's database and one Redis cache, as two serving processes are: what
    one changes, the other learns only through the database and the cache."""
    made = [
        create_app(
            "testing",
            SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
            CACHE_TYPE="RedisCache",
            CACHE_REDIS_URL=REDIS_URL,
            CACHE_KEY_PREFIX=prefix,
        )
        for _ in range(2)
    ]
    for other in made:
        other.test_client_class = RequestScopedClient
    yield made[0], made[1]
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def signed_in(process: Flask, username: str, remember: bool = False) -> Any:
    """A client of that process, signed in, whose snapshot is now in the cache."""
    client = process.test_client()
    credentials = {"username": username, "password": PASSWORD, "remember": remember}
    assert client.post("/users/login", json=credentials).status_code == 200
    assert client.get(NOTIFICATIONS, headers=JSON).status_code == 200
    return client


def in_process(process: Flask, change: Callable[[], None]) -> None:
    """Run a change in that process and commit it, as its request or job would."""
    with process.app_context():
        change()
        db.session.commit()
        db.session.remove()


def user_named(username: str) -> User:
    """The user row, in the current process's session."""
    user = db.session.scalar(db.select(User).where(User.username == username))
    assert user is not None
    return user


def test_a_revoked_admin_right_counts_on_the_next_request_in_another_process(processes, make_user):
    first, second = processes
    make_user("boss", is_admin=True)
    make_user("deputy", is_admin=True)
    boss = signed_in(first, "boss")
    assert boss.get(ADMIN, headers=JSON).status_code == 200
    deputy = signed_in(second, "deputy")
    boss_id = str(user_named("boss").id)
    answer = deputy.post(f"{ADMIN}/{boss_id}", json={"is_admin": False}, headers=JSON)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert boss.get(ADMIN, headers=JSON).status_code == 403


def test_a_password_changed_in_another_process_ends_the_session_on_the_next_request(
    processes, make_user
):
    first, second = processes
    make_user("alice")
    alice = signed_in(first, "alice")
    other_device = signed_in(second, "alice")
    answer = other_device.post(
        "/users/password",
        json={
            "current_password": PASSWORD,
            "new_password": "another-horse-43",
            "confirm_password": "another-horse-43",
        },
        headers=JSON,
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert alice.get(NOTIFICATIONS, headers=JSON).status_code == 401
    assert other_device.get(NOTIFICATIONS, headers=JSON).status_code == 200  # signed in anew


def test_a_logout_in_another_process_ends_the_remembered_sign_in(processes, make_user):
    first, second = processes
    make_user("alice")
    remembered = signed_in(first, "alice", remember=True)
    other_device = signed_in(second, "alice", remember=True)
    assert other_device.get("/users/logout", headers=JSON).status_code == 200
    assert remembered.get(NOTIFICATIONS, headers=JSON).status_code == 401
    remembered.delete_cookie("session")  # the remember-me cookie alone no longer signs in
    assert remembered.get(NOTIFICATIONS, headers=JSON).status_code == 401


def test_a_profile_refresh_in_another_process_shows_on_the_next_request(processes, make_user):
    first, second = processes
    make_user("alice", full_name="Alice Archer")
    alice = signed_in(first, "alice")
    assert "Alice Archer" in alice.get(HOME).get_data(as_text=True)
    # what the ERP's sign-in and nightly sync do (a directory's sign-in sets fields the same way)
    in_process(second, lambda: apply_profile(user_named("alice"), {"full_name": "Alice Baker"}))
    assert "Alice Baker" in alice.get(HOME).get_data(as_text=True)


def test_a_granted_right_by_statement_counts_on_the_next_request_in_another_process(
    processes, make_user
):
    first, second = processes
    make_user("alice")
    alice = signed_in(first, "alice")
    assert alice.get(ADMIN, headers=JSON).status_code == 403
    grant = update(User).where(User.username == "alice").values(is_admin=True)
    in_process(second, lambda: db.session.execute(grant))
    assert alice.get(ADMIN, headers=JSON).status_code == 200


def test_a_deleted_user_is_signed_out_on_the_next_request_in_another_process(processes, make_user):
    first, second = processes
    make_user("alice")
    alice = signed_in(first, "alice")
    in_process(second, lambda: db.session.delete(user_named("alice")))
    assert alice.get(NOTIFICATIONS, headers=JSON).status_code == 401


def test_an_unchanged_user_is_served_from_the_cache_in_every_process(processes, make_user):
    first, second = processes
    make_user("alice")
    signed_in(first, "alice")
    other = signed_in(second, "alice")
    with second.app_context(), user_queries() as seen:
        assert other.get(NOTIFICATIONS, headers=JSON).status_code == 200
    assert seen == []
