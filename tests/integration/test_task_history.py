"""A change's values, version and journal are written together, and only over the version read:
on PostgreSQL in one statement, on SQLite in three; both must leave the same rows."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from task_api_support import CLOSED, NEW, World, build_world

from helpdesk.extensions import db
from helpdesk.tasks.backends.history import write_change
from helpdesk.tasks.models import Journal, JournalDetail, Task

NOW = datetime(2026, 11, 27, 12, 0, 0)


@pytest.fixture
def world(make_user) -> World:
    """Projects, members and tasks (see task_api_support.build_world)."""
    return build_world(make_user)


def seen(task_id: int) -> SimpleNamespace:
    """The task as a change reads it: its id and version."""
    version = db.session.scalar(select(Task.lock_version).where(Task.id == task_id))
    return SimpleNamespace(id=task_id, lock_version=version)


def test_values_version_journal_and_every_detail_are_written(world: World) -> None:
    task_id, author = world.tasks["login"], world.uid("alice")
    read = seen(task_id)
    details = [("status_id", str(NEW), str(CLOSED)), ("closed_on", None, NOW.isoformat())]
    values = {"status_id": CLOSED, "closed_on": NOW}
    journal_id = write_change(
        db.session.connection(), read, author, NOW, "Shipped.", details, values
    )
    db.session.commit()
    assert journal_id is not None
    task = db.session.get(Task, task_id)
    assert task is not None
    assert (task.status_id, task.closed_on, task.updated_on) == (CLOSED, NOW, NOW)
    assert task.lock_version == read.lock_version + 1
    journal = db.session.get(Journal, journal_id)
    assert journal is not None
    assert (journal.task_id, journal.user_id, journal.notes, journal.created_on) == (
        task_id,
        author,
        "Shipped.",
        NOW,
    )
    written = db.session.execute(
        select(JournalDetail.prop_key, JournalDetail.old_value, JournalDetail.new_value)
        .where(JournalDetail.journal_id == journal_id)
        .order_by(JournalDetail.id)
    ).all()
    assert [tuple(row) for row in written] == details


def test_a_journal_without_details_is_written_alone(world: World) -> None:
    task_id = world.tasks["login"]
    journal_id = write_change(
        db.session.connection(), seen(task_id), world.uid("bob"), NOW, "A note.", [], {}
    )
    db.session.commit()
    assert journal_id is not None
    assert (
        db.session.scalar(select(JournalDetail.id).where(JournalDetail.journal_id == journal_id))
        is None
    )


def test_a_stale_version_writes_nothing(world: World) -> None:
    task_id = world.tasks["login"]
    stale = seen(task_id)
    stale.lock_version -= 1
    journals_before = db.session.scalar(select(Journal.id).order_by(Journal.id.desc()).limit(1))
    status_before = db.session.scalar(select(Task.status_id).where(Task.id == task_id))
    journal_id = write_change(
        db.session.connection(),
        stale,
        world.uid("alice"),
        NOW,
        "Too late.",
        [("status_id", str(status_before), str(CLOSED))],
        {"status_id": CLOSED},
    )
    db.session.commit()
    assert journal_id is None
    assert db.session.scalar(select(Task.status_id).where(Task.id == task_id)) == status_before
    assert (
        db.session.scalar(select(Journal.id).order_by(Journal.id.desc()).limit(1))
        == journals_before
    )
