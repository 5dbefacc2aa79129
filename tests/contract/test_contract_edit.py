"""What every task backend promises for editing a task and its watchers (issue 21).

The lock_version a task carries is the local store's own column; Redmine's REST API neither shows
nor checks one, so the Redmine backend emulates it with the task's newest journal id (every
change writes a journal): a stale edit is refused, but only as of the moment it reads the task
before writing, and a change no journal records (a watcher) does not move it on either backend.
"""

from __future__ import annotations

from datetime import date

import pytest

from contract_world import World
from helpdesk.extensions import db
from helpdesk.tasks.backends.base import (
    TaskConflict,
    TaskForbidden,
    TaskNotFound,
    TaskValidationError,
)
from helpdesk.tasks.backends.edits import TaskChanges

WATCHER_RIGHTS = """Role.find(4).tap { |role| role.add_permission!(:add_issue_watchers,
:delete_issue_watchers) }"""  # Redmine's developers may not choose watchers by default; ours may


@pytest.fixture(autouse=True)
def developers_choose_watchers(world: World, request: pytest.FixtureRequest) -> None:
    """In Redmine, give developers the watcher permissions the local store's developers have
    (once per Redmine: the role keeps them)."""
    if world.backend.name != "redmine":
        return
    server = request.getfixturevalue("redmine_server")
    [(permissions,)] = server.sql("SELECT permissions FROM roles WHERE id = 4")
    if "delete_issue_watchers" not in permissions:
        server.rails(WATCHER_RIGHTS)


def customer_field(world: World) -> int:
    """The id of the world's Customer custom field."""
    fields = world.backend.custom_fields(world.actors["alice"], world.projects["P2"])
    return next(field.id for field in fields if field.name == "Customer")


def edit(world: World, who: str, task_id: int, lock_version: int | None = None, **fields):
    """Edit through the backend under test and commit, as a request would."""
    custom = fields.pop("custom_fields", {})
    notes = fields.pop("notes", "")
    result = world.backend.update_task(
        world.actors[who], task_id, TaskChanges(fields, custom, notes), lock_version
    )
    db.session.commit()
    return result


def test_an_edit_changes_every_field_and_journals_each_old_to_new(world: World) -> None:
    customer = customer_field(world)
    task = world.create("alice", "P2", "Rollout", description="Steps")
    bob = world.actors["bob"].user_id
    result = edit(
        world,
        "alice",
        task.id,
        task.lock_version,
        subject="Rollout, phase 2",
        description="More steps",
        assigned_to_id=bob,
        priority_id=3,
        tracker_id=2,
        start_date=date(2026, 2, 2),
        due_date=date(2026, 2, 6),
        estimated_hours=4.5,
        done_ratio=30,
        custom_fields={customer: "ACME"},
        notes="Replanned",
    )
    again = world.backend.get_task(world.actors["bob"], task.id)
    assert again.subject == "Rollout, phase 2"
    assert again.description == "More steps"
    assert again.assigned_to is not None
    assert again.assigned_to.id == bob
    assert (again.priority.name, again.tracker.name) == ("High", "Feature")
    assert (again.start_date, again.due_date) == (date(2026, 2, 2), date(2026, 2, 6))
    assert again.estimated_hours == 4.5
    assert again.done_ratio == 30
    assert [(c.id, c.value) for c in again.custom_fields] == [(customer, "ACME")]
    assert again.lock_version != task.lock_version
    assert result.task.lock_version == again.lock_version
    journal = world.backend.journals(world.actors["bob"], task.id)[-1]
    assert journal.id == result.journal_id
    assert journal.notes == "Replanned"
    changes = {d.prop_key: (d.old_value, d.new_value) for d in journal.details}
    assert changes == {d.prop_key: (d.old_value, d.new_value) for d in result.details}
    assert changes["subject"] == ("Rollout", "Rollout, phase 2")
    assert changes["description"] == ("Steps", "More steps")
    assert changes["assigned_to_id"] == (None, str(bob))
    assert changes["priority_id"][1] == "3"
    assert changes["tracker_id"][1] == "2"
    started = task.start_date.isoformat() if task.start_date else None  # Redmine: created on
    assert changes["start_date"] == (started, "2026-02-02")
    assert changes["due_date"] == (None, "2026-02-06")
    assert changes["done_ratio"] == ("0", "30")
    assert changes[f"cf_{customer}"] == (None, "ACME")
    assert float(changes["estimated_hours"][1] or 0) == 4.5


def test_clearing_fields_and_unassigning_are_journaled(world: World) -> None:
    bob = world.actors["bob"].user_id
    task = world.create(
        "alice",
        "P2",
        "Clear me",
        assigned_to_id=bob,
        start_date=date(2026, 2, 1),
        due_date=date(2026, 3, 1),
    )
    result = edit(world, "alice", task.id, assigned_to_id=None, due_date=None)
    assert result.task.assigned_to is None
    assert result.task.due_date is None
    changes = {d.prop_key: (d.old_value, d.new_value) for d in result.details}
    assert changes == {"assigned_to_id": (str(bob), None), "due_date": ("2026-03-01", None)}


def test_an_edit_that_changes_nothing_writes_no_journal(world: World) -> None:
    task = world.create("alice", "P2", "Same")
    result = edit(world, "alice", task.id, task.lock_version, subject="Same")
    assert result.journal_id is None
    assert world.backend.journals(world.actors["alice"], task.id) == []
    assert world.backend.get_task(world.actors["alice"], task.id).lock_version == task.lock_version


def test_a_stale_lock_version_is_a_conflict_and_changes_nothing(world: World) -> None:
    task = world.create("alice", "P2", "Contested")
    edit(world, "bob", task.id, task.lock_version, subject="Bob's subject")
    with pytest.raises(TaskConflict):
        edit(world, "alice", task.id, task.lock_version, subject="Alice's subject")
    db.session.rollback()
    now = world.backend.get_task(world.actors["alice"], task.id)
    assert now.subject == "Bob's subject"
    assert len(world.backend.journals(world.actors["alice"], task.id)) == 1
    edit(world, "alice", task.id, now.lock_version, subject="Alice's subject")  # the fresh one
    assert world.backend.get_task(world.actors["bob"], task.id).subject == "Alice's subject"


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"assigned_to": "carol"}, "assigned_to_id"),  # a reporter takes no tasks
        ({"assigned_to": "dave"}, "assigned_to_id"),  # not a member
        ({"priority_id": 999}, "priority_id"),
        ({"tracker_id": 999}, "tracker_id"),
        ({"subject": "  "}, "subject"),
        ({"start_date": date(2026, 5, 9), "due_date": date(2026, 5, 1)}, "due_date"),
        ({"custom_fields": {999: "x"}}, "custom_fields"),
        ({"custom_fields": {"customer": "x" * 21}}, "custom_fields"),
    ],
)
def test_bad_values_are_refused_by_field_and_nothing_is_written(
    world: World, fields: dict, bad_field: str
) -> None:
    fields = dict(fields)
    if "assigned_to" in fields:
        fields["assigned_to_id"] = world.actors[fields.pop("assigned_to")].user_id
    if "customer" in fields.get("custom_fields", {}):
        fields["custom_fields"] = {customer_field(world): fields["custom_fields"]["customer"]}
    task = world.create("alice", "P1", "Untouched")
    with pytest.raises(TaskValidationError) as error:
        edit(world, "alice", task.id, **({"subject": "Touched"} | fields))
    assert bad_field in error.value.payload["errors"]
    db.session.rollback()
    again = world.backend.get_task(world.actors["alice"], task.id)
    assert again.subject == "Untouched"
    assert again.lock_version == task.lock_version
    assert world.backend.journals(world.actors["alice"], task.id) == []


def test_members_and_admins_may_edit_and_outsiders_see_nothing(world: World) -> None:
    task = world.create("alice", "P1", "Who edits")
    for who in ("alice", "carol", "admin"):
        assert world.backend.task_rights(world.actors[who], task.id).may_edit
    for outsider in ("bob", "dave"):
        with pytest.raises(TaskNotFound):
            world.backend.task_rights(world.actors[outsider], task.id)
        with pytest.raises(TaskNotFound):
            edit(world, outsider, task.id, subject="Mine now")
        db.session.rollback()
    assert world.backend.get_task(world.actors["alice"], task.id).subject == "Who edits"


def test_anyone_who_sees_a_task_watches_and_unwatches_it_themselves(world: World) -> None:
    task = world.create("alice", "P1", "Watch me")
    carol = world.actors["carol"].user_id
    watched = world.backend.set_watching(world.actors["carol"], task.id, carol, True)
    db.session.commit()
    assert watched.changed
    assert carol in watched.task.watcher_ids
    assert carol in world.backend.get_task(world.actors["alice"], task.id).watcher_ids
    again = world.backend.set_watching(world.actors["carol"], task.id, carol, True)  # no-op
    assert (again.changed, again.journal_id) == (False, None)
    assert again.task.watcher_ids.count(carol) == 1
    left = world.backend.set_watching(world.actors["carol"], task.id, carol, False)
    db.session.commit()
    assert left.changed
    assert carol not in left.task.watcher_ids
    assert not world.backend.set_watching(world.actors["carol"], task.id, carol, False).changed
    with pytest.raises(TaskNotFound):
        world.backend.set_watching(
            world.actors["dave"], task.id, world.actors["dave"].user_id, True
        )


def test_developers_and_admins_choose_other_watchers_who_may_see_the_task(world: World) -> None:
    task = world.create("alice", "P2", "Team watch")
    bob = world.actors["bob"].user_id
    assert world.backend.task_rights(world.actors["alice"], task.id).may_manage_watchers
    added = world.backend.set_watching(world.actors["alice"], task.id, bob, True)
    db.session.commit()
    assert bob in added.task.watcher_ids
    admin = world.backend.set_watching(world.actors["admin"], task.id, bob, False)
    db.session.commit()
    assert bob not in admin.task.watcher_ids
    history = world.backend.journals(world.actors["alice"], task.id)
    if world.backend.name == "local":  # Redmine keeps no history of watchers
        watcher_changes = [
            (journal.user.id, d.prop_key, d.old_value, d.new_value)
            for journal in history
            for d in journal.details
        ]
        assert watcher_changes == [
            (world.actors["alice"].user_id, "watcher", None, str(bob)),
            (world.actors["admin"].user_id, "watcher", str(bob), None),
        ]
        assert [journal.id for journal in history] == [added.journal_id, admin.journal_id]
    else:
        assert (added.journal_id, admin.journal_id, history) == (None, None, [])
    with pytest.raises(TaskValidationError) as error:  # dave may not see it: never a watcher
        world.backend.set_watching(
            world.actors["alice"], task.id, world.actors["dave"].user_id, True
        )
    assert "user_id" in error.value.payload["errors"]
    db.session.rollback()
    assert (
        world.actors["dave"].user_id
        not in world.backend.get_task(world.actors["alice"], task.id).watcher_ids
    )


def test_a_reporter_may_not_choose_other_watchers(world: World) -> None:
    task = world.create("alice", "P1", "Reporter's view")
    carol, alice = world.actors["carol"], world.actors["alice"].user_id
    assert not world.backend.task_rights(carol, task.id).may_manage_watchers
    with pytest.raises(TaskForbidden):
        world.backend.set_watching(carol, task.id, alice, False)
    db.session.rollback()
    assert alice in world.backend.get_task(carol, task.id).watcher_ids


def test_members_say_whether_their_role_takes_tasks(world: World) -> None:
    members = world.backend.members(world.actors["alice"], world.projects["P1"])
    takes = {m.user_id: m.assignable for m in members}
    assert takes == {world.actors["alice"].user_id: True, world.actors["carol"].user_id: False}
