"""A change writes the task's new values, its version, a journal and every detail together, and
only over the version it read (the mapper's version_id_col): a stale version writes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from task_api_support import CLOSED, NEW, World, build_world

from helpdesk.extensions import db
from helpdesk.tasks.backends.base import TaskConflict
from helpdesk.tasks.backends.local import LocalBackend
from helpdesk.tasks.models import Journal, JournalDetail, Task
from helpdesk.tasks.service import actor_for


@pytest.fixture
def world(make_user) -> World:
    """Projects, members and tasks (see task_api_support.build_world)."""
    return build_world(make_user)


def journals(task_id: int) -> list[tuple[int, str, list[tuple[str, str | None, str | None]]]]:
    """The task's journals as committed: author, notes and details."""
    db.session.expire_all()
    found = []
    for journal in db.session.scalars(select(Journal).where(Journal.task_id == task_id)):
        details = [(d.prop_key, d.old_value, d.new_value) for d in journal.details]
        found.append((journal.user_id, journal.notes, details))
    return found


def test_values_version_journal_and_every_detail_are_written(world: World) -> None:
    task_id, alice = world.tasks["login"], world.users["alice"]
    before = db.session.get(Task, task_id)
    assert before is not None
    version, old_status = before.lock_version, before.status_id
    change = LocalBackend().change_status(actor_for(alice), task_id, CLOSED, "Shipped.")
    db.session.commit()
    db.session.expire_all()
    task = db.session.get(Task, task_id)
    assert task is not None
    assert (task.status_id, task.lock_version) == (CLOSED, version + 1)
    assert task.closed_on == task.updated_on == change.task.updated_on
    assert journals(task_id) == [
        (alice.id, "Shipped.", [("status_id", str(old_status), str(CLOSED))])
    ]


def test_a_comment_bumps_the_version_and_writes_a_journal_without_details(world: World) -> None:
    task_id, alice = world.tasks["login"], world.users["alice"]
    version = db.session.scalar(select(Task.lock_version).where(Task.id == task_id))
    LocalBackend().add_comment(actor_for(alice), task_id, "Looking.")
    db.session.commit()
    assert db.session.scalar(select(Task.lock_version).where(Task.id == task_id)) == version + 1
    assert journals(task_id) == [(alice.id, "Looking.", [])]
    assert db.session.scalar(select(JournalDetail.id)) is None


def test_a_stale_version_writes_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    task_id, alice = world.tasks["login"], world.users["alice"]
    original = LocalBackend._require_member

    def meanwhile(self: LocalBackend, actor: object, role_id: int | None) -> None:
        db.session.execute(  # another writer's commit, behind the ORM's back
            update(Task)
            .where(Task.id == task_id)
            .values(lock_version=Task.lock_version + 1, subject="Theirs")
            .execution_options(synchronize_session=False)
        )
        original(self, actor, role_id)  # type: ignore[arg-type]

    monkeypatch.setattr(LocalBackend, "_require_member", meanwhile)
    with pytest.raises(TaskConflict):
        LocalBackend().change_status(actor_for(alice), task_id, NEW, "Mine.")
    db.session.rollback()
    assert journals(task_id) == []
