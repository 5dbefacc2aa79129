"""The signed-in user is read afresh by every request (one read by primary key), so a change made
by any process, a revoked right or a new password, counts from the next request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, update

from helpdesk.extensions import db
from helpdesk.users.models import User
from helpers import JSON

ACCOUNT = "/users/account"
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
    user = make_user("alice", department="Sales")
    login(user)
    return user


def change_elsewhere(user_id: int, **values: Any) -> None:
    """Commit on a connection of its own, as another process (the CLI, a second server) would."""
    db.session.rollback()
    with db.engine.begin() as connection:
        connection.execute(update(User).where(User.id == user_id).values(**values))


def test_each_request_reads_its_user_once(client, alice):
    for _ in range(2):
        with user_queries() as seen:
            assert client.get(ACCOUNT, headers=JSON).status_code == 200
        assert len(seen) == 1, seen


def test_a_change_made_elsewhere_shows_on_the_next_request(client, alice):
    assert client.get(ACCOUNT, headers=JSON).get_json()["data"]["department"] == "Sales"
    change_elsewhere(alice.id, department="Support")
    assert client.get(ACCOUNT, headers=JSON).get_json()["data"]["department"] == "Support"


def test_a_revoked_admin_right_counts_on_the_next_request(client, make_user, login):
    boss = make_user("boss", is_admin=True)
    login(boss)
    assert client.get("/admin/users", headers=JSON).status_code == 200
    change_elsewhere(boss.id, is_admin=False)
    assert client.get("/admin/users", headers=JSON).status_code == 403


def test_a_password_changed_elsewhere_ends_the_session_on_the_next_request(client, alice):
    assert client.get(ACCOUNT, headers=JSON).status_code == 200
    change_elsewhere(alice.id, session_token="replaced-by-a-new-password")
    assert client.get(ACCOUNT, headers=JSON).status_code == 401
