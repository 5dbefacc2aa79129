"""Rows read on the driver's cursor (driver_rows.all_rows) are the rows SQLAlchemy's execute
gives, converted by the same types, in the connection's transaction or in none, with
SQLAlchemy's errors and events; on both databases."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, String, bindparam, column, event, select, table, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator
from task_api_support import World, build_world

from helpdesk.core.database import reads_before_writing
from helpdesk.core.driver_rows import all_rows, prepare
from helpdesk.extensions import db
from helpdesk.tasks.backends.local import (
    ListShape,
    change_statement,
    list_statements,
    task_statement,
    user_ids,
)
from helpdesk.tasks.models import CustomField, CustomValue, Task, Watcher
from helpers import backend_pid, drop_on_the_server


@pytest.fixture
def world(make_user) -> World:
    """Projects, members and tasks (see task_api_support.build_world), one task with a custom
    value and a watcher."""
    built = build_world(make_user)
    field_id = db.session.scalar(select(CustomField.id))
    login = built.tasks["login"]
    db.session.add(CustomValue(task_id=login, custom_field_id=field_id, value="ACME"))
    db.session.add(Watcher(task_id=login, user_id=built.uid("bob")))
    db.session.commit()
    return built


def both_ways(statement: Any, params: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """The statement's rows through all_rows and through SQLAlchemy's execute."""
    with db.engine.connect() as connection:
        fast = all_rows(connection, statement, params)
    with db.engine.connect() as connection:
        usual = connection.execute(statement, params).all()
    return fast, usual


def test_a_task_reads_as_sqlalchemy_reads_it_with_dates_json_and_names(world: World) -> None:
    params = {"task_id": world.tasks["login"], "actor_id": world.uid("alice")}
    fast, usual = both_ways(task_statement(), params)
    assert [tuple(row) for row in fast] == [tuple(row) for row in usual]
    (row,) = fast
    assert isinstance(row.created_on, datetime)
    assert row.start_date == date(2024, 1, 15)
    assert row.estimated_hours == 8.0
    assert row.assignee_name == "Alice Smith"
    assert sorted(map(tuple, row.extras)) == [
        ("c", 1, "Customer", "ACME"),
        ("w", world.uid("bob"), None, None),
    ]
    assert row.role_id is not None


def test_only_a_text_with_nothing_to_expand_is_run_as_compiled(world: World) -> None:
    """A fixed text runs as it was compiled; one with an IN list is expanded for each run."""
    dialect = db.engine.dialect
    assert prepare(task_statement(), dialect).fixed
    listed = select(Task.id).where(Task.id.in_(bindparam("ids", expanding=True))).order_by(Task.id)
    assert not prepare(listed, dialect).fixed
    ids = sorted(world.tasks.values())
    with db.engine.connect() as connection:
        assert [row.id for row in all_rows(connection, listed, {"ids": ids[:1]})] == ids[:1]
        assert [row.id for row in all_rows(connection, listed, {"ids": ids})] == ids


def test_a_change_reads_its_workflow_booleans_and_the_members_it_concerns(world: World) -> None:
    params = {
        "task_id": world.tasks["bobweb"],
        "actor_id": world.uid("rita"),
        "new_status_id": 2,
    }
    fast, usual = both_ways(change_statement(), params)
    assert [tuple(row) for row in fast] == [tuple(row) for row in usual]
    (row,) = fast
    assert row.role_has_rules is True
    assert row.move_allowed is True
    assert user_ids(row.member_ids) == {world.uid("alice"), world.uid("bob")}  # author, assignee


@pytest.mark.parametrize(
    ("status", "extra"),
    [("open", {"status_ids": [1, 2, 3, 4]}), ("closed", {"status_ids": [5, 6]}), ("all", {})],
)
def test_a_page_of_tasks_reads_as_sqlalchemy_reads_it(
    world: World, status: str, extra: dict[str, Any]
) -> None:
    shape = ListShape(False, True, status, False, None, 0, (("updated_on", True),))
    page, count = list_statements(shape)
    alice = world.uid("alice")
    params = {"actor_id": alice, "assigned_to_id": alice, "limit": 25, "offset": 0, **extra}
    fast, usual = both_ways(page, params)
    assert [tuple(row) for row in fast] == [tuple(row) for row in usual]
    assert fast, "alice has tasks of every kind"
    assert all(isinstance(row.updated_on, datetime) for row in fast)
    assert both_ways(count, params)[0][0][0] == len(fast)


def test_no_task_is_no_row(world: World) -> None:
    with db.engine.connect() as connection:
        assert all_rows(connection, task_statement(), {"task_id": 0, "actor_id": 1}) == []


def test_it_reads_in_the_connections_transaction_and_tells_the_cursor_events(
    world: World,
) -> None:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    task_id = world.tasks["login"]
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.engine.connect() as connection:
            connection.begin()
            connection.execute(update(Task).where(Task.id == task_id).values(subject="Ours"))
            rows = all_rows(connection, select(Task.subject).where(Task.id == task_id), {})
            assert rows[0].subject == "Ours"  # its transaction's own write, not yet committed
            assert connection.in_transaction()
            connection.rollback()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert any("FROM tasks" in statement for statement in seen)


def driver_in_transaction(connection: Connection) -> bool:
    """Whether the driver itself holds a transaction open on the connection."""
    driver = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        return bool(driver.in_transaction)
    return bool(driver.info.transaction_status != driver.info.transaction_status.IDLE)


def test_on_a_connection_without_a_transaction_it_begins_none(app: Flask, world: World) -> None:
    """A connection reads_before_writing(alone=True) gives stays in autocommit: no transaction
    is left open behind the read, in SQLAlchemy or in the driver."""
    task_id = world.tasks["login"]
    db.session.remove()  # a request whose unit of work has not begun
    with (
        app.test_request_context("/anything", method="GET"),
        reads_before_writing(alone=True) as connection,
    ):
        rows = all_rows(connection, select(Task.id).where(Task.id == task_id), {})
        assert [row.id for row in rows] == [task_id]
        assert not connection.in_transaction()
        assert not driver_in_transaction(connection)


class Shouted(TypeDecorator[str]):
    """A type that converts what it binds, as SQLAlchemy's DateTime does on SQLite."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        """Upper case."""
        return None if value is None else value.upper()


def test_a_parameter_that_needs_converting_is_refused(world: World) -> None:
    statement = select(Task.id).where(Task.subject == bindparam("subject", type_=Shouted()))
    with db.engine.connect() as connection, pytest.raises(TypeError, match="needs converting"):
        all_rows(connection, statement, {"subject": "x"})


def test_a_driver_error_is_sqlalchemys_error_without_the_values(world: World) -> None:
    missing = select(table("no_such_table", column("secret"))).where(column("secret") == "hunter2")
    with db.engine.connect() as connection, pytest.raises(DBAPIError) as raised:
        all_rows(connection, missing, {})
    assert "no_such_table" in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert not raised.value.connection_invalidated


def test_a_connection_the_server_dropped_is_invalidated(server_engine: Engine) -> None:
    dropped = backend_pid(server_engine)
    drop_on_the_server(dropped)
    with server_engine.connect() as connection, pytest.raises(DBAPIError) as raised:
        all_rows(connection, select(Task.id), {})
    assert raised.value.connection_invalidated
    assert backend_pid(server_engine) != dropped  # the pool opened a new connection
