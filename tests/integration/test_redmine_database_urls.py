"""The database reader on the other databases a Redmine may run on (REDMINE_DB_URL): SQLite and
PostgreSQL, each read-only and read in the reader's language."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from helpdesk import create_app
from helpdesk.integrations.redmine.database import (
    dispose_database,
    get_localized_status_name,
    redmine_database,
)
from helpers import scratch_postgres

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
    with scratch_postgres("redmine_reader") as url:
        filler = create_engine(url, poolclass=NullPool)
        with filler.begin() as connection:
            connection.execute(text(STATUSES))
            connection.execute(text(ROWS))
        filler.dispose()
        yield url


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
