"""The behaviour every task backend promises; each backend runs exactly these tests."""

from __future__ import annotations

import importlib.util

import pytest

from contract_world import World
from helpdesk.extensions import db
from helpdesk.tasks.backends.base import (
    InvalidTransition,
    TaskNotFound,
    TaskQuery,
    TaskValidationError,
)

# Where a backend cannot (yet) keep a promise, it is said here, in this one place; the suite
# itself never forks. Redmine's change feed is integrations/redmine/feed.py (branch redmine-feed):
# without it RedmineBackend.changes_since raises NotImplementedError.
PENDING = {
    ("redmine", "test_change_feed_reports_each_change_once_with_its_tasks_people"): (
        importlib.util.find_spec("helpdesk.integrations.redmine.feed") is None,
        "the Redmine change feed comes with branch redmine-feed",
    ),
}


@pytest.fixture(autouse=True)
def pending(request: pytest.FixtureRequest) -> None:
    """Mark a promise a backend cannot keep yet as an expected failure, strictly: it fails the
    run the day it passes, so this table never outlives the gap."""
    backend = (
        request.node.callspec.params.get("world") if hasattr(request.node, "callspec") else None
    )
    missing, reason = PENDING.get((backend, request.node.originalname), (False, ""))
    if missing:
        request.applymarker(
            pytest.mark.xfail(reason=reason, raises=NotImplementedError, strict=True)
        )


def ids(page) -> list[int]:
    return [task.id for task in page.items]


def test_create_applies_defaults_and_makes_the_author_a_watcher(world: World) -> None:
    task = world.create("alice", "P1", "Printer jam")
    assert task.subject == "Printer jam"
    assert task.status.name == "New"
    assert task.priority.name == "Normal"
    assert task.tracker.name == "Bug"
    assert task.author.id == world.actors["alice"].user_id
    assert task.author.name == "Alice Ivanova"
    assert world.actors["alice"].user_id in task.watcher_ids
    assert task.closed_on is None


def test_create_keeps_every_given_field(world: World) -> None:
    from datetime import date

    task = world.create(
        "alice",
        "P2",
        "Rollout",
        description="Steps",
        priority_id=3,
        tracker_id=2,
        assigned_to_id=world.actors["bob"].user_id,
        start_date=date(2026, 1, 5),
        due_date=date(2026, 1, 9),
        estimated_hours=4.5,
    )
    again = world.backend.get_task(world.actors["bob"], task.id)
    assert again.description == "Steps"
    assert (again.priority.name, again.tracker.name) == ("High", "Feature")
    assert again.assigned_to is not None
    assert again.assigned_to.name == "Bob Petrov"
    assert (again.start_date, again.due_date) == (date(2026, 1, 5), date(2026, 1, 9))
    assert again.estimated_hours == 4.5


@pytest.mark.parametrize(
    ("who", "project", "fields", "bad_field"),
    [
        ("dave", "P1", {}, "project_id"),
        ("alice", "P1", {"priority_id": 999}, "priority_id"),
        ("alice", "P1", {"status_id": 999}, "status_id"),
        ("alice", "P1", {"tracker_id": 999}, "tracker_id"),
        ("alice", "P1", {"assigned_to": "bob"}, "assigned_to_id"),
        ("alice", "P1", {"assigned_to": "carol"}, "assigned_to_id"),
        ("alice", "P1", {"custom_fields": {999: "x"}}, "custom_fields"),
    ],
)
def test_create_refuses_bad_references_by_field(
    world: World, who: str, project: str, fields: dict, bad_field: str
) -> None:
    if "assigned_to" in fields:
        fields = {"assigned_to_id": world.actors[fields["assigned_to"]].user_id}  # not pop: shared
    before = world.backend.list_tasks(world.actors["admin"], TaskQuery(status="all")).total
    with pytest.raises(TaskValidationError) as error:
        world.create(who, project, "Nope", **fields)
    assert bad_field in error.value.payload["errors"]
    db.session.rollback()
    after = world.backend.list_tasks(world.actors["admin"], TaskQuery(status="all")).total
    assert after == before


def test_unknown_project_is_a_field_error(world: World) -> None:
    world.projects["missing"] = 999_999
    with pytest.raises(TaskValidationError) as error:
        world.create("admin", "missing", "Nope")
    assert "project_id" in error.value.payload["errors"]


def test_tasks_are_visible_to_members_and_admins_only(world: World) -> None:
    task = world.create("alice", "P1", "Members only")
    assert world.backend.get_task(world.actors["carol"], task.id).id == task.id
    assert world.backend.get_task(world.actors["admin"], task.id).id == task.id
    for outsider in ("bob", "dave"):
        with pytest.raises(TaskNotFound):
            world.backend.get_task(world.actors[outsider], task.id)
    with pytest.raises(TaskNotFound):
        world.backend.get_task(world.actors["admin"], 987_654)


def test_list_filters_by_assignee_status_priority_project_and_search(world: World) -> None:
    alice, bob = world.actors["alice"].user_id, world.actors["bob"].user_id
    a = world.create("alice", "P1", "VPN drops at night", assigned_to_id=alice, priority_id=4)
    b = world.create("alice", "P2", "Portal 50% slower", assigned_to_id=alice)
    c = world.create("bob", "P2", "VPN token expired", assigned_to_id=bob)
    world.backend.change_status(world.actors["alice"], b.id, world.statuses["Closed"], None)
    db.session.commit()
    me = world.actors["alice"]
    mine = TaskQuery(assigned_to_id=alice)
    assert ids(world.backend.list_tasks(me, mine)) == [a.id]
    assert set(
        ids(world.backend.list_tasks(me, TaskQuery(assigned_to_id=alice, status="all")))
    ) == {
        a.id,
        b.id,
    }
    closed = TaskQuery(assigned_to_id=alice, status="closed")
    assert ids(world.backend.list_tasks(me, closed)) == [b.id]
    assert ids(world.backend.list_tasks(me, TaskQuery(status="Closed"))) == [b.id]
    assert ids(world.backend.list_tasks(me, TaskQuery(priority="urgent"))) == [a.id]
    assert ids(world.backend.list_tasks(me, TaskQuery(project="p-two"))) == [c.id]
    by_id = TaskQuery(project=str(world.projects["P1"]))
    assert ids(world.backend.list_tasks(me, by_id)) == [a.id]
    assert ids(world.backend.list_tasks(me, TaskQuery(project="Project Two"))) == [c.id]
    assert set(ids(world.backend.list_tasks(me, TaskQuery(search="vpn")))) == {a.id, c.id}
    assert ids(world.backend.list_tasks(me, TaskQuery(search="vpn night"))) == [a.id]
    literal = TaskQuery(search="50%", status="all")
    assert ids(world.backend.list_tasks(me, literal)) == [b.id]
    assert ids(world.backend.list_tasks(me, TaskQuery(search="%", status="all"))) == [b.id]


def test_list_shows_only_visible_projects(world: World) -> None:
    world.create("alice", "P1", "In one")
    world.create("alice", "P2", "In two")
    assert world.backend.list_tasks(world.actors["dave"], TaskQuery()).total == 0
    assert world.backend.list_tasks(world.actors["bob"], TaskQuery()).total == 1
    assert world.backend.list_tasks(world.actors["admin"], TaskQuery()).total == 2


def test_list_sorts_and_pages_with_a_total(world: World) -> None:
    created = [
        world.create("alice", "P1", f"Task {n:02d}", priority_id=1 + n % 5) for n in range(7)
    ]
    me = world.actors["alice"]
    first = world.backend.list_tasks(me, TaskQuery(sort=(("id", False),), page=1, per_page=3))
    second = world.backend.list_tasks(me, TaskQuery(sort=(("id", False),), page=2, per_page=3))
    last = world.backend.list_tasks(me, TaskQuery(sort=(("id", False),), page=3, per_page=3))
    assert first.total == second.total == last.total == 7
    assert ids(first) + ids(second) + ids(last) == [t.id for t in created]
    by_priority = world.backend.list_tasks(me, TaskQuery(sort=(("priority", True),), per_page=7))
    positions = [t.priority.position for t in by_priority.items]
    assert positions == sorted(positions, reverse=True)
    by_subject = world.backend.list_tasks(me, TaskQuery(sort=(("subject", True),), per_page=7))
    assert [t.subject for t in by_subject.items] == sorted(
        (t.subject for t in created), reverse=True
    )


def test_change_status_records_a_journal_and_closes(world: World) -> None:
    task = world.create("alice", "P1", "Broken chair")
    result = world.backend.change_status(
        world.actors["alice"], task.id, world.statuses["Closed"], "Replaced it"
    )
    db.session.commit()
    assert result.changed
    assert (result.old_status.name, result.new_status.name) == ("New", "Closed")
    assert result.task.status.name == "Closed"
    assert result.task.closed_on is not None
    history = world.backend.journals(world.actors["carol"], task.id)
    assert len(history) == 1
    assert history[0].notes == "Replaced it"
    assert history[0].user.id == world.actors["alice"].user_id
    assert [(d.prop_key, d.old_value, d.new_value) for d in history[0].details] == [
        ("status_id", str(world.statuses["New"]), str(world.statuses["Closed"]))
    ]


def test_same_status_changes_nothing_but_keeps_the_comment(world: World) -> None:
    task = world.create("alice", "P1", "Same")
    result = world.backend.change_status(world.actors["alice"], task.id, task.status.id, "Still")
    db.session.commit()
    assert not result.changed
    history = world.backend.journals(world.actors["alice"], task.id)
    assert [(j.notes, j.details) for j in history] == [("Still", ())]


def test_workflow_limits_a_role_and_names_the_allowed_statuses(world: World) -> None:
    task = world.create("alice", "P1", "Needs triage")
    world.restrict("Reporter", "New", ["Feedback"])
    carol = world.actors["carol"]
    allowed = world.backend.allowed_statuses(carol, task.id)
    assert [s.name for s in allowed] == ["Feedback"]
    with pytest.raises(InvalidTransition) as error:
        world.backend.change_status(carol, task.id, world.statuses["Closed"], None)
    assert [s["name"] for s in error.value.payload["allowed_statuses"]] == ["Feedback"]
    db.session.rollback()
    assert world.backend.get_task(carol, task.id).status.name == "New"
    assert world.backend.journals(carol, task.id) == []
    moved = world.backend.change_status(carol, task.id, world.statuses["Feedback"], None)
    assert moved.new_status.name == "Feedback"


def test_roles_without_rules_and_admins_may_choose_any_other_status(world: World) -> None:
    task = world.create("alice", "P1", "Anything goes")
    names = {s.name for s in world.backend.statuses()} - {"New"}
    assert {s.name for s in world.backend.allowed_statuses(world.actors["alice"], task.id)} == names
    assert {s.name for s in world.backend.allowed_statuses(world.actors["admin"], task.id)} == names


def test_outsiders_cannot_change_or_comment(world: World) -> None:
    task = world.create("alice", "P1", "Private")
    dave = world.actors["dave"]
    with pytest.raises(TaskNotFound):
        world.backend.change_status(dave, task.id, world.statuses["Closed"], None)
    with pytest.raises(TaskNotFound):
        world.backend.add_comment(dave, task.id, "hi")
    with pytest.raises(TaskNotFound):
        world.backend.journals(dave, task.id)


def test_comments_append_to_the_history_in_order(world: World) -> None:
    task = world.create("alice", "P1", "Chatty")
    first = world.backend.add_comment(world.actors["carol"], task.id, "First")
    second = world.backend.add_comment(world.actors["alice"], task.id, "Second")
    db.session.commit()
    history = world.backend.journals(world.actors["alice"], task.id)
    assert [j.id for j in history] == [first.id, second.id]
    assert [j.notes for j in history] == ["First", "Second"]
    assert history[0].user.id == world.actors["carol"].user_id


def test_lookups(world: World) -> None:
    statuses = world.backend.statuses()
    assert [s.name for s in statuses][:2] == ["New", "In Progress"]
    assert {s.name for s in statuses if s.is_closed} == {"Closed", "Rejected"}
    priorities = world.backend.priorities()
    assert [p.name for p in priorities] == ["Low", "Normal", "High", "Urgent", "Immediate"]
    assert [p.name for p in priorities if p.is_default] == ["Normal"]
    assert {t.name for t in world.backend.trackers()} >= {"Bug", "Feature", "Support"}
    assert [p.name for p in world.backend.projects(world.actors["bob"])] == ["Project Two"]
    assert len(world.backend.projects(world.actors["admin"])) == 2
    assert world.backend.projects(world.actors["dave"]) == []
    members = world.backend.members(world.actors["alice"], world.projects["P1"])
    assert {(m.name, m.role) for m in members} == {
        ("Alice Ivanova", "Developer"),
        ("carol", "Reporter"),
    }
    with pytest.raises(TaskNotFound):
        world.backend.members(world.actors["bob"], world.projects["P1"])


def test_custom_fields_are_offered_for_visible_projects_and_kept(world: World) -> None:
    alice = world.actors["alice"]
    fields = world.backend.custom_fields(alice, world.projects["P1"])
    assert [(f.name, f.is_required, f.max_length) for f in fields] == [("Customer", False, 20)]
    assert world.backend.custom_fields(world.actors["admin"], world.projects["P2"]) == fields
    task = world.create("alice", "P1", "For a customer", custom_fields={fields[0].id: "ACME"})
    kept = world.backend.get_task(alice, task.id).custom_fields
    assert [(value.id, value.value) for value in kept] == [(fields[0].id, "ACME")]
    with pytest.raises(TaskValidationError) as error:
        world.create("alice", "P1", "Too long", custom_fields={fields[0].id: "x" * 21})
    assert "custom_fields" in error.value.payload["errors"]
    db.session.rollback()
    for who, project_id in [("bob", world.projects["P1"]), ("admin", 987_654)]:
        with pytest.raises(TaskNotFound):
            world.backend.custom_fields(world.actors[who], project_id)


def test_every_sort_key_sorts_a_list(world: World) -> None:
    offered_by_the_pages = {"id", "subject", "status", "priority", "project", "due_date"}
    assert offered_by_the_pages | {"updated_on"} <= world.backend.sort_keys
    created = {world.create("alice", "P1", f"Sorted {n}", priority_id=1 + n).id for n in range(3)}
    me = world.actors["alice"]
    for key in sorted(world.backend.sort_keys):
        for descending in (False, True):
            query = TaskQuery(status="all", sort=((key, descending),))
            assert set(ids(world.backend.list_tasks(me, query))) == created, key


def test_user_ids_cross_the_seam_as_helpdesk_ids(world: World) -> None:
    for actor in world.actors.values():
        backend_id = world.backend.user_ids.to_backend(actor.user_id)
        assert backend_id is not None
        assert world.backend.user_ids.to_helpdesk(backend_id) == actor.user_id
    alice, bob = world.actors["alice"], world.actors["bob"]
    task = world.create("alice", "P2", "Whose ids", assigned_to_id=bob.user_id)
    assert task.author.id == alice.user_id
    assert task.assigned_to is not None
    assert task.assigned_to.id == bob.user_id
    assert task.watcher_ids == (alice.user_id,)
    listed = world.backend.list_tasks(bob, TaskQuery(assigned_to_id=bob.user_id)).items
    assert [(t.id, t.assigned_to.id if t.assigned_to else None) for t in listed] == [
        (task.id, bob.user_id)
    ]
    comment = world.backend.add_comment(bob, task.id, "Mine now")
    assert comment.user.id == bob.user_id
    members = world.backend.members(alice, world.projects["P2"])
    assert {m.user_id for m in members} == {alice.user_id, bob.user_id}


def test_change_feed_reports_each_change_once_with_its_tasks_people(world: World) -> None:
    """The feed reports facts (author, assignee, watchers); whom to tell is not its choice."""
    alice, bob = world.actors["alice"], world.actors["bob"]
    task = world.create("alice", "P2", "Feed me", assigned_to_id=bob.user_id)
    start = world.backend.changes_since(None)
    assert start.changes == []
    world.backend.change_status(bob, task.id, world.statuses["In Progress"], "On it")
    db.session.commit()
    batch = world.backend.changes_since(start.cursor)
    assert len(batch.changes) == 1
    change = batch.changes[0]
    assert change.journal.task_id == task.id
    assert change.task.id == task.id
    assert change.task.subject == "Feed me"
    assert change.task.project_id == world.projects["P2"]
    assert change.journal.user.id == bob.user_id
    assert (change.task.author_id, change.task.assigned_to_id) == (alice.user_id, bob.user_id)
    assert change.task.watcher_ids == (alice.user_id,)  # the author watches what she created
    assert world.backend.changes_since(start.cursor).changes == batch.changes  # replayable
    assert world.backend.changes_since(batch.cursor).changes == []


def test_visible_to_names_members_and_admins_only(world: World) -> None:
    task = world.create("alice", "P1", "Who may know")
    everyone = [actor.user_id for actor in world.actors.values()]
    expected = {world.actors[name].user_id for name in ("admin", "alice", "carol")}
    assert world.backend.visible_to(task.id, everyone) == expected
    assert world.backend.visible_to(task.id, []) == set()
    assert world.backend.visible_to(987_654, everyone) == set()


def test_member_ids_are_the_people_with_a_role_in_the_project(world: World) -> None:
    names = {"P1": ("alice", "carol"), "P2": ("alice", "bob")}
    for project, members in names.items():
        expected = {world.actors[name].user_id for name in members}
        assert world.backend.member_ids(world.projects[project]) == expected
    assert world.backend.member_ids(987_654) == set()
