"""The signed-in user is kept between requests: no query for them, yet changes are never missed.

A commit in this process forgets the user at once; a change made elsewhere (another process, here
a Core UPDATE the ORM does not see) shows once USER_CACHE_SECONDS have passed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, update

from helpdesk.extensions import db
from helpdesk.users import load_user, signed_in
from helpdesk.users.models import User
from helpdesk.users.signed_in import SignedInUsers
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


def department(client) -> str:
    """Alice's department as her account page reports it."""
    response = client.get(ACCOUNT, headers=JSON)
    assert response.status_code == 200
    return response.get_json()["data"]["department"]


def test_a_kept_user_is_not_read_again(client, alice):
    assert department(client) == "Sales"
    with user_queries() as seen:
        assert department(client) == "Sales"
    assert seen == []


def test_a_change_committed_here_shows_on_the_next_request(client, alice):
    assert department(client) == "Sales"
    assert client.post(ACCOUNT, json={"department": "Support"}).status_code == 200
    assert department(client) == "Support"


def test_a_password_change_here_ends_the_kept_session_at_once(app, client, alice, login):
    other = app.test_client()
    login(alice, the_client=other)
    assert other.get(ACCOUNT, headers=JSON).status_code == 200
    user = db.session.get(User, alice.id)
    assert user is not None
    user.set_password("a-brand-new-password-1")
    db.session.commit()
    assert other.get(ACCOUNT, headers=JSON).status_code == 401


def test_a_change_made_elsewhere_shows_once_the_moment_has_passed(client, alice, monkeypatch):
    assert department(client) == "Sales"
    with db.engine.begin() as connection:  # as another process would: no ORM, no events here
        connection.execute(update(User).where(User.id == alice.id).values(department="Legal"))
    assert department(client) == "Sales"  # still kept
    clock = signed_in.time.monotonic() + 60
    monkeypatch.setattr(signed_in.time, "monotonic", lambda: clock)
    assert department(client) == "Legal"


def test_a_password_changed_elsewhere_ends_the_session_once_the_moment_has_passed(
    client, alice, monkeypatch
):
    assert department(client) == "Sales"
    with db.engine.begin() as connection:
        connection.execute(update(User).where(User.id == alice.id).values(session_token="x" * 22))
    clock = signed_in.time.monotonic() + 60
    monkeypatch.setattr(signed_in.time, "monotonic", lambda: clock)
    assert client.get(ACCOUNT, headers=JSON).status_code == 401


def test_nothing_is_kept_when_the_setting_is_zero(app, client, alice):
    app.extensions["helpdesk_signed_in"] = SignedInUsers(0)
    assert department(client) == "Sales"
    with user_queries() as seen:
        assert department(client) == "Sales"
    assert len(seen) == 1


def test_a_load_that_raced_a_change_is_not_kept():
    users = SignedInUsers(60)
    kept = User(id=7, username="seven")
    generation = users.generation()
    users.forget({8})  # a commit changed some user while the load ran
    users.keep("7:token", kept, generation)
    assert users.get("7:token") is None
    users.keep("7:token", kept, users.generation())
    assert users.get("7:token") is kept
    users.forget({7})
    assert users.get("7:token") is None


def test_reading_requests_share_the_kept_user_and_writing_ones_get_their_own(app, client, alice):
    """A GET gets the kept, detached user itself (no copy, no session); a POST gets its own copy
    in its session, which it may change."""
    session_id = f"{alice.id}:{alice.session_token}"
    db.session.remove()  # as in a request of its own: the test's session holds alice
    with app.test_request_context("/tasks/api/statuses", method="GET"):
        first = load_user(session_id)
        assert first is not None
        assert first not in db.session
    with app.test_request_context("/tasks/api/statuses", method="GET"):
        assert load_user(session_id) is first
    with app.test_request_context("/users/account", method="POST"):
        own = load_user(session_id)
        assert own is not first
        assert own in db.session
        assert own.department == first.department == "Sales"


def test_a_shared_user_never_joins_a_session(app, alice):
    """Changing the user a GET shares would change it for every request at once: refused."""
    session_id = f"{alice.id}:{alice.session_token}"
    db.session.remove()
    with app.test_request_context("/tasks/api/statuses", method="GET"):
        shared = load_user(session_id)
        with pytest.raises(RuntimeError, match="shared"):
            db.session.add(shared)
        assert shared not in db.session
