"""The queues-and-search migration (f1d5a3c7e9b2) up and down on SQLite and PostgreSQL: it indexes
the tasks already there, its triggers keep the index, and it leaves nothing behind when undone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
from sqlalchemy import inspect, text

from helpdesk import create_app
from helpdesk.extensions import db
from helpdesk.tasks.backends.base import RELEVANCE, Actor, TaskQuery
from helpdesk.tasks.backends.local import LocalBackend
from helpdesk.tasks.search import (
    RANKED_MATCHES,
    is_search_table,
    pause_search_index,
    rebuild_search_index,
)
from helpdesk.users import service
from helpers import scratch_postgres

BEFORE = "5d2a7c9e1f30"


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_app(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """An app on a fresh database of each kind, migrated to the head."""
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path / "instance"))
    if request.param == "sqlite":
        yield from _migrated(f"sqlite:///{tmp_path / 'migrated.db'}")
    else:
        with scratch_postgres("find_migration") as url:
            yield from _migrated(url)


def _migrated(uri: str) -> Iterator[Any]:
    application = create_app("testing", SQLALCHEMY_DATABASE_URI=uri)
    with application.app_context():
        flask_migrate.upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


def search(words: str) -> set[int]:
    admin = Actor(user_id=0, is_admin=True)
    page = LocalBackend().list_tasks(admin, TaskQuery(search=words, status="all"))
    db.session.rollback()  # hold no transaction: a migration writes next
    return {task.id for task in page.items}


def test_search_migration_indexes_old_tasks_and_undoes_cleanly(migrated_app: Any) -> None:
    author = service.create_user("admin", "admin@example.com", "secret-pass-123")
    db.session.flush()
    author_id = author.id  # read before the downgrade
    db.session.commit()
    flask_migrate.downgrade(revision=BEFORE)
    assert not {name for name in inspect(db.engine).get_table_names() if is_search_table(name)}
    assert "saved_task_filters" not in inspect(db.engine).get_table_names()
    for statement in (
        "INSERT INTO projects (id, identifier, name, description, created_on)"
        " VALUES (1, 'p', 'P', '', '2026-01-01')",
        """INSERT INTO tasks (id, project_id, tracker_id, status_id, priority_id, author_id,
            subject, description, done_ratio, created_on, updated_on, lock_version)
            VALUES (1, 1, 1, 1, 2, :author, 'Old scanner', 'Paper jams', 0, '2026-01-01',
            '2026-01-01', 0)""",
        "INSERT INTO journals (task_id, user_id, notes, created_on)"
        " VALUES (1, :author, 'Replaced the roller', '2026-01-02')",
    ):
        db.session.execute(text(statement), {"author": author_id})
    db.session.commit()
    flask_migrate.upgrade()
    assert search("scanner") == search("jams") == search("roller") == {1}
    db.session.execute(text("UPDATE journals SET notes = 'Cleaned the feeder' WHERE task_id = 1"))
    db.session.execute(text("UPDATE tasks SET subject = 'Old printer' WHERE id = 1"))
    db.session.commit()
    assert search("roller") == search("scanner") == set()
    assert search("feeder printer") == {1}
    db.session.execute(text("DELETE FROM journals"))
    db.session.execute(text("DELETE FROM tasks"))
    db.session.commit()
    assert search("printer") == set()
    flask_migrate.downgrade(revision=BEFORE)
    assert not {name for name in inspect(db.engine).get_table_names() if is_search_table(name)}
    flask_migrate.upgrade()


def test_a_database_made_by_create_all_searches(app: Any, make_user: Any) -> None:
    """The seed installs with db.create_all(): the search index and its triggers come with the
    tables, and drop_all() takes them away again."""
    db.session.remove()
    db.drop_all()
    assert not {name for name in inspect(db.engine).get_table_names() if is_search_table(name)}
    db.create_all()
    alice = make_user("alice")
    db.session.execute(
        text(
            "INSERT INTO projects (id, identifier, name, description, created_on)"
            " VALUES (1, 'p', 'P', '', '2026-01-01')"
        )
    )
    for statement in (
        "INSERT INTO trackers VALUES (1, 'Bug', 1)",
        "INSERT INTO task_statuses VALUES (1, 'New', false, 1)",
        "INSERT INTO task_priorities VALUES (1, 'Normal', 1, true)",
    ):
        db.session.execute(text(statement))
    db.session.execute(
        text(
            """INSERT INTO tasks (id, project_id, tracker_id, status_id, priority_id, author_id,
            subject, description, done_ratio, created_on, updated_on, lock_version)
            VALUES (1, 1, 1, 1, 1, :author, 'Webcam', 'No picture', 0, '2026-01-01',
            '2026-01-01', 0)"""
        ),
        {"author": alice.id},
    )
    db.session.commit()
    assert search("picture") == {1}


def search_schema() -> list[tuple[str, str]]:
    """The search index's tables, triggers and functions as the database describes them,
    whitespace aside."""
    if db.engine.dialect.name == "sqlite":
        sql = (
            "SELECT name, sql FROM sqlite_master WHERE name LIKE 'task_search%'"
            " AND sql IS NOT NULL ORDER BY name"
        )
    else:
        sql = """
            SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname LIKE 'task_search%'
            UNION ALL SELECT proname, pg_get_functiondef(oid) FROM pg_proc
                WHERE proname LIKE 'task_search%'
            UNION ALL SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'task_search'
            ORDER BY 1"""
    rows = db.session.execute(text(sql)).all()
    db.session.rollback()
    return [(name, " ".join(definition.split())) for name, definition in rows]


def test_create_all_makes_the_search_index_the_migrations_make(
    migrated_app: Any, tmp_path: Path
) -> None:
    """The seed's install path (create_all) and the migrations give the same search table,
    triggers and functions, so both databases keep and search the index alike."""
    migrated = search_schema()
    assert {"task_search_on_task_insert", "task_search_on_task"} & {n for n, _ in migrated}

    def created(uri: str) -> list[tuple[str, str]]:
        application = create_app("testing", SQLALCHEMY_DATABASE_URI=uri)
        with application.app_context():
            db.create_all()
            try:
                return search_schema()
            finally:
                db.session.remove()
                db.engine.dispose()

    if db.engine.dialect.name == "sqlite":
        assert created(f"sqlite:///{tmp_path / 'created.db'}") == migrated
    else:
        with scratch_postgres("find_create_all") as url:
            assert created(url) == migrated


def add_tasks(author_id: int) -> None:
    """Two projects; bob is a member of the first only; a task in it, open."""
    for statement in (
        "INSERT INTO projects (id, identifier, name, description, created_on)"
        " VALUES (1, 'one', 'One', '', '2026-01-01'), (2, 'two', 'Two', '', '2026-01-01')",
        "INSERT INTO members (project_id, user_id, role_id) VALUES (1, :author, 2)",
        """INSERT INTO tasks (id, project_id, tracker_id, status_id, priority_id, author_id,
            subject, description, done_ratio, created_on, updated_on, lock_version)
            VALUES (1, 1, 1, 1, 2, :author, 'Scanner jams', '', 0, '2026-01-01',
            '2026-01-01', 0)""",
    ):
        db.session.execute(text(statement), {"author": author_id})
    db.session.commit()


def found(actor: Actor, words: str, status: str = "open", project: str | None = None) -> set[int]:
    query = TaskQuery(search=words, status=status, project=project)
    page = LocalBackend().list_tasks(actor, query)
    db.session.rollback()
    return {task.id for task in page.items}


def test_the_index_follows_a_tasks_status_and_project(migrated_app: Any) -> None:
    """Visibility and the open/closed filter are answered by the index: closing a task or
    moving it to another project changes what a search finds at once."""
    bob = service.create_user("bob", "bob@example.com", "secret-pass-123")
    db.session.commit()
    add_tasks(bob.id)
    member = Actor(user_id=bob.id, is_admin=False)
    assert found(member, "scanner") == {1}
    db.session.execute(text("UPDATE tasks SET status_id = 5 WHERE id = 1"))  # Closed
    db.session.commit()
    assert found(member, "scanner") == set()
    assert found(member, "scanner", "closed") == found(member, "scanner", "all") == {1}
    db.session.execute(text("UPDATE tasks SET status_id = 1, project_id = 2 WHERE id = 1"))
    db.session.commit()
    assert found(member, "scanner", "all") == set()  # not a member of project two
    assert found(member, "scanner", "all", project="2") == set()
    admin = Actor(user_id=0, is_admin=True)
    assert found(admin, "scanner") == found(admin, "scanner", project="2") == {1}
    assert found(admin, "scanner", project="1") == set()
    assert found(admin, "p2 s1", "all") == set()  # the scope is no text


def test_a_subject_match_outranks_newer_matches_past_the_window(migrated_app: Any) -> None:
    """A search ranks the newest matches from the index (search.RANKED_MATCHES) and the newest
    subject matches as well: an old subject match still comes first, every match is counted,
    and the last page is reached."""
    bob = service.create_user("bob", "bob@example.com", "secret-pass-123")
    db.session.commit()
    add_tasks(bob.id)
    newer = RANKED_MATCHES + 30
    db.session.execute(
        text(
            """INSERT INTO tasks (id, project_id, tracker_id, status_id, priority_id, author_id,
            subject, description, done_ratio, created_on, updated_on, lock_version)
            VALUES (:id, 1, 1, 1, 2, :author, 'Paper', 'the scanner again', 0, '2026-02-01',
            '2026-02-01', 0)"""
        ),
        [{"id": 2 + index, "author": bob.id} for index in range(newer)],
    )
    db.session.commit()
    member = Actor(user_id=bob.id, is_admin=False)
    ranked = TaskQuery(search="scanner", sort=((RELEVANCE, True),))
    first = LocalBackend().list_tasks(member, ranked)
    assert first.items[0].id == 1
    assert first.total == newer + 1
    last_page = (newer + 1 + ranked.per_page - 1) // ranked.per_page
    last = LocalBackend().list_tasks(member, replace(ranked, page=last_page))
    assert len(last.items) == (newer + 1) - (last_page - 1) * ranked.per_page
    db.session.rollback()


def test_a_bulk_load_indexes_once_and_keeps_the_index_after(migrated_app: Any) -> None:
    """pause_search_index() lets a bulk load write without the triggers; rebuild_search_index()
    indexes everything written meanwhile and keeps the index again."""
    bob = service.create_user("bob", "bob@example.com", "secret-pass-123")
    db.session.commit()
    with db.engine.begin() as connection:
        pause_search_index(connection)
    add_tasks(bob.id)
    db.session.execute(
        text(
            "INSERT INTO journals (task_id, user_id, notes, created_on)"
            " VALUES (1, :bob, 'Replaced the roller', '2026-01-02')"
        ),
        {"bob": bob.id},
    )
    db.session.commit()
    member = Actor(user_id=bob.id, is_admin=False)
    assert found(member, "scanner") == set()  # not indexed yet
    with db.engine.begin() as connection:
        rebuild_search_index(connection)
    assert found(member, "scanner") == found(member, "roller") == {1}
    db.session.execute(text("UPDATE tasks SET subject = 'Printer jams' WHERE id = 1"))
    db.session.commit()
    assert found(member, "printer") == {1}
    assert found(member, "scanner") == set()
