"""What a writing request reads before it writes stays out of SQLite's write lock; on
PostgreSQL a reading request reads in autocommit; a request that already began or changed
something, or writes on PostgreSQL, reads on its own transaction, its changes included."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import bindparam, select, update

from helpdesk.core.database import reads_before_writing
from helpdesk.core.driver_rows import all_rows
from helpdesk.extensions import db
from helpdesk.users.models import User


@pytest.fixture
def sqlite_only(app: Flask) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the write lock and the separate reading connection are SQLite's")


def rename_elsewhere(user_id: int, name: str) -> None:
    """Commit on a connection of its own, as another request or process would."""
    with db.engine.begin() as connection:
        connection.execute(update(User).where(User.id == user_id).values(full_name=name))


def name_of(user_id: int) -> str | None:
    """The committed name, read afresh."""
    db.session.remove()
    return db.session.scalar(select(User.full_name).where(User.id == user_id))


@pytest.mark.parametrize("alone", [False, True])
def test_a_writing_request_reads_without_holding_the_write_lock(
    app: Flask, make_user, sqlite_only, alone: bool
) -> None:
    """Alone or not, a statement executed on the connection (which begins a transaction) reads
    in a read transaction, not in the write lock a writing request's transactions take."""
    user_id = make_user(full_name="Before").id
    db.session.remove()  # the request's own, untouched session
    with app.test_request_context("/anything", method="PUT"):
        with reads_before_writing(alone=alone) as reading:
            name = reading.scalar(select(User.full_name).where(User.id == user_id))
            rename_elsewhere(user_id, "Meanwhile")  # held, the lock would time this out
        assert name == "Before"
    assert name_of(user_id) == "Meanwhile"


def test_postgresql_reads_on_the_requests_own_transaction(
    app: Flask, make_user, postgresql_only
) -> None:
    """No write lock to keep out of there: the version check alone guards the write."""
    user_id = make_user(full_name="Before").id
    db.session.remove()
    with app.test_request_context("/anything", method="PUT"):
        with reads_before_writing() as reading:
            assert reading is db.session.connection()
            assert reading.scalar(select(User.full_name).where(User.id == user_id)) == "Before"
        db.session.rollback()


def test_postgresql_reading_requests_read_in_autocommit(
    app: Flask, make_user, postgresql_only
) -> None:
    """A GET's reads need no transaction of their own: no BEGIN or ROLLBACK round trips, and
    nothing left open on the session's connection."""
    user_id = make_user(full_name="Before").id
    db.session.remove()
    with app.test_request_context("/anything", method="GET"):
        with reads_before_writing() as reading:
            assert reading.connection.driver_connection.autocommit is True
            assert reading.scalar(select(User.full_name).where(User.id == user_id)) == "Before"
            rename_elsewhere(user_id, "Meanwhile")
            assert reading.scalar(select(User.full_name).where(User.id == user_id)) == "Meanwhile"
        assert not db.session().in_transaction()


def test_once_the_unit_of_work_began_it_reads_on_it_and_sees_its_own_writes(
    app: Flask, make_user
) -> None:
    user_id = make_user(full_name="Before").id
    db.session.remove()
    with app.test_request_context("/anything", method="PUT"):
        db.session.execute(update(User).where(User.id == user_id).values(full_name="Ours"))
        with reads_before_writing() as reading:
            assert reading is db.session.connection()
            assert reading.scalar(select(User.full_name).where(User.id == user_id)) == "Ours"
        db.session.rollback()
    assert name_of(user_id) == "Before"


def test_changed_objects_are_flushed_to_the_session_it_reads_on(app: Flask, make_user) -> None:
    user = make_user(full_name="Before")
    db.session.refresh(user)  # loaded, then detached: merged back below without a query
    db.session.expunge(user)
    db.session.remove()
    with app.test_request_context("/anything", method="PUT"):
        db.session.merge(user, load=False).full_name = "Changed, not flushed"  # no query
        with reads_before_writing() as reading:
            assert reading is db.session.connection()
            found = reading.scalar(select(User.full_name).where(User.id == user.id))
        assert found == "Changed, not flushed"
        db.session.rollback()
    assert name_of(user.id) == "Before"


def test_a_read_apart_makes_no_session_for_a_request_that_has_none(app: Flask, make_user) -> None:
    """Making the request's ORM session only to see that it holds nothing cost more than the
    read; once the request writes, its session is made as before."""
    user_id = make_user(full_name="Before").id
    db.session.remove()
    with app.test_request_context("/anything", method="GET"):
        with reads_before_writing() as reading:
            assert reading.scalar(select(User.full_name).where(User.id == user_id)) == "Before"
        assert not db.session.registry.has()
    writes_apart = db.engine.dialect.name == "sqlite"
    with app.test_request_context("/anything", method="PUT"):
        with reads_before_writing() as reading:
            assert reading.scalar(select(User.full_name).where(User.id == user_id)) == "Before"
        assert db.session.registry.has() is not writes_apart
        db.session.rollback()


NAME = select(User.full_name).where(User.id == bindparam("id"))


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_reads_alone_hold_no_transaction_and_each_sees_the_latest_commit(
    app: Flask, make_user, method: str
) -> None:
    """alone=True, for reads that need not agree (one statement, a page and its count): apart
    from the request's unit of work they run in autocommit, on SQLite with no BEGIN and no
    ROLLBACK; on PostgreSQL a writing request reads on its own transaction, as before."""
    user_id = make_user(full_name="Before").id
    db.session.remove()
    apart = method == "GET" or db.engine.dialect.name == "sqlite"
    with app.test_request_context("/anything", method=method):
        with reads_before_writing(alone=True) as reading:
            first = all_rows(reading, NAME, {"id": user_id})[0].full_name
            if apart:
                assert not reading.in_transaction()
                rename_elsewhere(user_id, "Meanwhile")  # no read snapshot holds it back
            second = all_rows(reading, NAME, {"id": user_id})[0].full_name
        db.session.rollback()
    assert first == "Before"
    assert second == ("Meanwhile" if apart else "Before")
