"""How a request's transaction ends: a clean read never rolls back on PostgreSQL (a ROLLBACK
would make psycopg forget its prepared statements): it commits; a change commits, and so do its
deliveries' reads after it; anything that wrote without committing or failed rolls back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import Connection, event, select
from task_api_support import NEW, World, build_world

from helpdesk.extensions import db
from helpdesk.users.models import User
from helpers import JSON


@pytest.fixture
def endings(app: Flask) -> Iterator[list[str]]:
    """Every COMMIT and ROLLBACK the engine runs while the test looks."""
    seen: list[str] = []

    def on_commit(_connection: object) -> None:
        seen.append("commit")

    def on_rollback(connection: Connection) -> None:
        """A rollback in autocommit sends nothing (psycopg: no transaction, nothing forgotten)."""
        if not getattr(connection.connection.driver_connection, "autocommit", False):
            seen.append("rollback")

    event.listen(db.engine, "commit", on_commit)
    event.listen(db.engine, "rollback", on_rollback)
    yield seen
    event.remove(db.engine, "commit", on_commit)
    event.remove(db.engine, "rollback", on_rollback)


def test_a_clean_read_never_rolls_back_on_postgresql(
    client, make_user, login, endings, postgresql_only
) -> None:
    """What a reading request read through its session commits (commit_reads)."""
    login(make_user())
    for page in ("/users/account", "/notifications"):
        endings.clear()
        assert client.get(page).status_code == 200
        assert endings == ["commit"], page


def test_a_failed_read_rolls_back(app, client, make_user, login, endings) -> None:
    @app.get("/test-only/fail")
    def fail() -> str:
        db.session.scalar(select(User.id).limit(1))
        raise RuntimeError("the view failed after reading")

    login(make_user())
    endings.clear()
    assert client.get("/test-only/fail").status_code == 500
    assert "commit" not in endings
    assert "rollback" in endings


def test_a_change_and_its_deliveries_end_with_commits(
    client, make_user, login, endings, postgresql_only
) -> None:
    """The status change commits; its deliveries then read (unread counts, the board's members)
    in autocommit and end with COMMIT, not with the ROLLBACK of closing the session."""
    world: World = build_world(make_user)
    login(world.users["alice"])
    endings.clear()
    response = client.put(
        f"/tasks/api/task/{world.tasks['login']}/status", json={"status_id": NEW}, headers=JSON
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["data"]["notifications_sent"] == 1  # so delivery read its counts
    assert endings == ["commit", "commit"]
