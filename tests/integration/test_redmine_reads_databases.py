"""REDMINE_READS=database on each database Redmine runs on: the random world of the differential
test, copied from MariaDB (where it is proven equal to Redmine's REST answers) into SQLite and
PostgreSQL, reads the same there, user by user."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Boolean, Column, Engine, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects.mysql import TINYINT

from helpdesk.extensions import db
from helpdesk.integrations.redmine import tables
from helpdesk.integrations.redmine.client import RedmineClient
from helpdesk.integrations.redmine.database import reader_engine
from helpdesk.tasks.backends.base import Actor, TaskError, TaskQuery
from helpdesk.tasks.backends.redmine_reads import RedmineDatabaseReads
from helpers import scratch_postgres
from rmreads_world import restore_world, world_tag

pytestmark = pytest.mark.redmine

READ_TABLES = [
    name for name in dir(tables) if not name.startswith("_") and hasattr(getattr(tables, name), "c")
]


def generic(column: Any) -> Any:
    """A MariaDB column's type as any database has it (TINYINT(1) is Rails' boolean)."""
    if isinstance(column.type, TINYINT) and column.type.display_width == 1:
        return Boolean()
    return column.type.as_generic()


def copy_tables(source: Engine, target_url: str) -> None:
    """Redmine's tables the reads use, schema and rows, from MariaDB into another database."""
    reflected = MetaData()
    reflected.reflect(source, only=[getattr(tables, n).name for n in READ_TABLES])
    copied = MetaData()
    for table in reflected.sorted_tables:
        Table(
            table.name,
            copied,
            *(
                Column(c.name, generic(c), primary_key=c.primary_key, autoincrement=False)
                for c in table.columns
            ),
        )
    target = create_engine(target_url)
    copied.create_all(target)
    with source.connect() as reading, target.begin() as writing:
        for table in reflected.sorted_tables:
            rows = [dict(row._mapping) for row in reading.execute(select(table))]
            if rows:
                writing.execute(insert(copied.tables[table.name]), rows)
    target.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def other_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the kind to copy the world into."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'redmine.sqlite3'}"
    else:
        with scratch_postgres("rmreads_redmine") as url:
            yield url


def outcome(call: Callable[[], Any]) -> Any:
    """A read's value, or the kind of error it raised."""
    try:
        return call()
    except TaskError as error:
        return type(error).__name__


def test_the_same_reads_on_sqlite_and_postgresql(
    app: Any, redmine_server: Any, make_user: Callable[..., Any], other_database: str
) -> None:
    restore_world(redmine_server, 1)
    mariadb = reader_engine(redmine_server.db_url, 10)
    copy_tables(mariadb, other_database)
    other = reader_engine(other_database, 10)
    client = RedmineClient(redmine_server.url, redmine_server.api_key, 30)
    zone = ZoneInfo("UTC")
    reference, candidate = (
        RedmineDatabaseReads(client, mariadb, zone),
        RedmineDatabaseReads(client, other, zone),
    )
    logins = dict(
        redmine_server.sql(
            "SELECT login, id FROM users WHERE login LIKE :pattern ORDER BY id",
            pattern=f"{world_tag(1)}\\_%",
        )
    )
    issues = [row[0] for row in redmine_server.sql("SELECT id FROM issues ORDER BY id")]
    rng = random.Random(1)
    differences = []
    for login in rng.sample(sorted(logins), 4):
        user = make_user(login, is_redmine_user=True)
        user.redmine_username, user.redmine_user_id = login, logins[login]
        db.session.commit()
        actor = Actor(user_id=user.id, login=login)
        reads: list[tuple[str, Callable[[Any], Any]]] = [
            ("default", lambda b, a=actor: b.list_tasks(a, TaskQuery(per_page=100))),
            (
                "by id",
                lambda b, a=actor: b.list_tasks(
                    a, TaskQuery(status="all", sort=(("id", False),), page=2)
                ),
            ),
            (
                "search",
                lambda b, a=actor: b.list_tasks(a, TaskQuery(search="VPN portal", status="all")),
            ),
            ("projects", lambda b, a=actor: b.projects(a)),
        ]
        for issue_id in rng.sample(issues, 6):
            reads.append((f"task {issue_id}", lambda b, a=actor, i=issue_id: b.get_task(a, i)))
            reads.append((f"journals {issue_id}", lambda b, a=actor, i=issue_id: b.journals(a, i)))
        for label, read in reads:
            expected = outcome(lambda r=read: r(reference))
            got = outcome(lambda r=read: r(candidate))
            if expected != got:
                differences.append(f"{login} {label}: MariaDB {expected!r}\n  other {got!r}")
    mariadb.dispose()
    other.dispose()
    client.close()
    assert not differences, "\n".join(differences[:10])
