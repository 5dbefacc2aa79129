"""The seed's `[mysql]` reader on a real Redmine's MariaDB database: read-only, pooled, with
timeouts, status names in the reader's language, project members as the seed shows them."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from helpdesk import create_app
from helpdesk.integrations.redmine.database import (
    database_url,
    get_connection,
    get_localized_status_name,
    get_project_members,
    init_app,
    to_utc,
)

pytestmark = pytest.mark.redmine

DEVELOPER, MANAGER = 4, 3


def connect(redmine_server: Any) -> Any:
    """A connection through the seed's helper, from the fixture's database URL."""
    url = make_url(redmine_server.db_url)
    connection = get_connection(url.host, url.username, url.password or "", url.database)
    assert connection is not None
    return connection


def test_the_connection_reads_and_never_writes(redmine_server: Any) -> None:
    with connect(redmine_server) as connection:
        assert connection.scalar(text("SELECT COUNT(*) FROM issue_statuses")) == 6
        with pytest.raises(DBAPIError, match="READ ONLY"):
            connection.execute(text("UPDATE issue_statuses SET name = 'Hacked' WHERE id = 1"))
    names = redmine_server.sql("SELECT name FROM issue_statuses WHERE id = 1")
    assert names == [("New",)]


def test_an_unreachable_database_gives_none_within_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing listens on the port: None after the attempts, logged without the password."""
    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        connection = get_connection(
            "127.0.0.1", "root", "s3cret-pass", "redmine", max_attempts=2, port=3129, timeout=2
        )
    assert connection is None
    assert time.monotonic() - began < 15
    assert "attempt 2 of 2" in caplog.text
    assert "s3cret-pass" not in caplog.text


def test_status_names_are_in_the_readers_language(redmine_server: Any) -> None:
    """Redmine keeps one name per status; the default ones are shown in Russian or English
    whichever language Redmine's data was loaded in, others as Redmine stores them."""
    with connect(redmine_server) as connection:
        assert get_localized_status_name(2, connection, "ru") == "В работе"
        assert get_localized_status_name(2, connection, "en") == "In Progress"
        assert get_localized_status_name(1, connection) == "Новая"  # no request: the default
        with pytest.raises(LookupError):
            get_localized_status_name(999, connection, "en")
    number = int(time.time() * 1000) % 10**9
    custom = f"Waiting {number}"
    redmine_server.sql(
        "INSERT INTO issue_statuses (name, is_closed, position) VALUES (:name, 0, 99)",
        name=custom,
    )
    russian = "Нужен отклик"
    (status_id,) = redmine_server.sql("SELECT id FROM issue_statuses WHERE name = :n", n=custom)[0]
    with connect(redmine_server) as connection:
        assert get_localized_status_name(status_id, connection, "ru") == custom
    redmine_server.sql(
        "UPDATE issue_statuses SET name = :ru WHERE id = :id", ru=russian, id=status_id
    )
    with connect(redmine_server) as connection:
        assert get_localized_status_name(status_id, connection, "en") == "Feedback"
    redmine_server.sql("DELETE FROM issue_statuses WHERE id = :id", id=status_id)


def test_project_members_as_the_seed_shows_them(redmine_server: Any) -> None:
    """Active users with their roles (several joined), no groups, no locked users."""
    number = int(time.time() * 1000) % 10**9
    redmine_server.rails(
        f"p = Project.create!(name: 'Members {number}', identifier: 'members-{number}'); "
        f"a = User.create!(login: 'ann{number}', firstname: 'Ann', lastname: 'Lee', "
        f"mail: 'ann{number}@example.com', password: 'correct-horse-42'); "
        f"z = User.create!(login: 'zed{number}', firstname: 'Zed', lastname: 'Old', "
        f"mail: 'zed{number}@example.com', password: 'correct-horse-42'); "
        f"g = Group.create!(lastname: 'Team {number}'); "
        f"Member.create!(project: p, principal: a, role_ids: [{DEVELOPER}, {MANAGER}]); "
        f"Member.create!(project: p, principal: z, role_ids: [{DEVELOPER}]); "
        f"Member.create!(project: p, principal: g, role_ids: [{DEVELOPER}]); "
        "z.lock!; print p.id, ' ', a.id"
    )
    project_id, ann_id = map(
        int,
        redmine_server.sql(
            "SELECT p.id, u.id FROM projects p, users u WHERE p.identifier = :p AND u.login = :u",
            p=f"members-{number}",
            u=f"ann{number}",
        )[0],
    )
    with connect(redmine_server) as connection:
        members = get_project_members(project_id, connection)
    assert members == [{"user_id": ann_id, "name": "Ann Lee", "role": "Manager, Developer"}]


def test_the_url_wins_over_the_fields_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    fields = {"REDMINE_DB_HOST": "db.example", "REDMINE_DB_NAME": "redmine", "REDMINE_DB_USER": "r"}
    assert database_url(fields) == make_url("mysql+pymysql://r@db.example:3306/redmine")
    both = {**fields, "REDMINE_DB_URL": "postgresql+psycopg://r@pg.example/redmine"}
    assert database_url(both) == make_url("postgresql+psycopg://r@pg.example/redmine")
    assert database_url({}) is None
    app = create_app("testing", REDMINE_DB_URL="sqlite://", REDMINE_DB_HOST="db.example")
    with caplog.at_level(logging.WARNING):
        init_app(app)
    assert "ignoring REDMINE_DB_HOST" in caplog.text


def test_redmine_times_are_converted_from_its_zone() -> None:
    moscow = ZoneInfo("Europe/Moscow")
    assert to_utc(datetime(2026, 12, 7, 15, 0), moscow) == datetime(2026, 12, 7, 12, 0)
    assert to_utc(datetime(2026, 12, 7, 15, 0), ZoneInfo("UTC")) == datetime(2026, 12, 7, 15, 0)
    app = create_app("testing", REDMINE_TIMEZONE="Mars/Olympus")
    with pytest.raises(RuntimeError, match="REDMINE_TIMEZONE must name a time zone"):
        init_app(app)
