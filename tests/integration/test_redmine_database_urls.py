"""The database reader on the other databases a Redmine may run on (REDMINE_DB_URL): SQLite and
PostgreSQL, each read-only and read in the reader's language."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from conftest import require_service
from helpdesk import create_app
from helpdesk.integrations.redmine.database import (
    dispose_database,
    get_localized_status_name,
    redmine_database,
)

STATUSES = "CREATE TABLE issue_statuses (id INTEGER PRIMARY KEY, name VARCHAR(30))"
ROWS = "INSERT INTO issue_statuses (id, name) VALUES (1, 'Новая'), (2, 'Waiting for parts')"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A Redmine-shaped SQLite file with two statuses, one of them a Russian default name."""
    path = tmp_path / "redmine.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute(STATUSES)
        connection.execute(ROWS)
    connection.close()
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The same in a PostgreSQL database of its own."""
    server = make_url(
        os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    )
    admin = create_engine(
        server.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    name = f"redmine_reader_{os.getpid()}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        require_service("PostgreSQL", str(error).splitlines()[0])
    url = server.set(database=name)
    filler = create_engine(url, poolclass=NullPool)
    with filler.begin() as connection:
        connection.execute(text(STATUSES))
        connection.execute(text(ROWS))
    filler.dispose()
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.parametrize("which", ["sqlite_url", "postgres_url"])
def test_any_sqlalchemy_url_is_read_and_never_written(
    which: str, request: pytest.FixtureRequest
) -> None:
    app = create_app("testing", REDMINE_DB_URL=request.getfixturevalue(which))
    try:
        engine = redmine_database(app)
        assert engine is not None
        with engine.connect() as connection:
            assert get_localized_status_name(1, connection, "en") == "New"
            assert get_localized_status_name(1, connection, "ru") == "Новая"
            assert get_localized_status_name(2, connection, "ru") == "Waiting for parts"
            with pytest.raises(DBAPIError):
                connection.execute(text("UPDATE issue_statuses SET name = 'Hacked'"))
    finally:
        dispose_database(app)
