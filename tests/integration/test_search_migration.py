"""The queues-and-search migration (f1d5a3c7e9b2) up and down on SQLite and PostgreSQL: it indexes
the tasks already there, its triggers keep the index, and it leaves nothing behind when undone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
from sqlalchemy import inspect, text

from helpdesk import create_app
from helpdesk.extensions import db
from helpdesk.tasks.backends.base import Actor, TaskQuery
from helpdesk.tasks.backends.local import LocalBackend
from helpdesk.tasks.search import is_search_table
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
