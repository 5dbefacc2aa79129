"""Redmine's changes as the change feed reads them, from its database by journal id and from its
REST API by updated_on, against a real Redmine on MariaDB: nothing of Redmine is mocked."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from helpdesk import create_app
from helpdesk.integrations.redmine.answers import IssueAnswer, ProjectAnswer, UserAnswer
from helpdesk.integrations.redmine.client import RedmineClient
from helpdesk.integrations.redmine.database import dispose_database
from helpdesk.integrations.redmine.feed import Cursor, changes_since
from helpdesk.tasks.backends.base import BackendUnavailable, Change

pytestmark = pytest.mark.redmine

DEVELOPER = 4  # Redmine's default roles and statuses
IN_PROGRESS, RESOLVED, CLOSED = 2, 3, 5
OFFSET = 1000  # helpdesk id = Redmine id + OFFSET, so an untranslated id shows
NUMBERS = itertools.count(int(time.time()) % 100000 * 10)


class OffsetIds:
    """The helpdesk's ids of Redmine users, for the people given an account here only."""

    def __init__(self, redmine_ids: set[int]) -> None:
        self.redmine_ids = redmine_ids

    def to_backend(self, user_id: int) -> int | None:
        """Our id back to Redmine's."""
        return user_id - OFFSET if user_id - OFFSET in self.redmine_ids else None

    def to_helpdesk(self, backend_user_id: int) -> int | None:
        """Redmine's id to ours; None for a Redmine user without an account."""
        return backend_user_id + OFFSET if backend_user_id in self.redmine_ids else None


@dataclass
class Source:
    """What changes_since needs of the backend: the REST client and the id translation."""

    client: RedmineClient
    user_ids: OffsetIds


@dataclass
class Scene:
    """A project with people (Redmine ids by name) and one issue: bob's, assigned to alice,
    watched by dave; carol makes the changes; erin has no helpdesk account."""

    client: RedmineClient
    project_id: int
    people: dict[str, int] = field(default_factory=dict)
    logins: dict[str, str] = field(default_factory=dict)
    issue_id: int = 0

    def helpdesk_id(self, name: str) -> int:
        """The helpdesk id a person has in these tests."""
        return self.people[name] + OFFSET


@pytest.fixture(scope="module")
def client(redmine_server: Any) -> Iterator[RedmineClient]:
    """Redmine's REST client with the administrator's key."""
    redmine_client = RedmineClient(redmine_server.url, redmine_server.api_key, timeout=10)
    yield redmine_client
    redmine_client.close()


@pytest.fixture
def scene(client: RedmineClient) -> Scene:
    """A project, its members and an issue, created through Redmine's REST API."""
    number = next(NUMBERS)
    project = client.post(
        "/projects.json",
        {"project": {"name": f"Feed {number}", "identifier": f"feed-{number}"}},
        shape=ProjectAnswer,
    )["project"]
    built = Scene(client, project["id"])
    for name in ("alice", "bob", "carol", "dave", "erin"):
        built.logins[name] = f"{name}{number}"
        built.people[name] = add_member(client, project["id"], built.logins[name], name.title())
    built.issue_id = client.post(
        "/issues.json",
        {
            "issue": {
                "project_id": project["id"],
                "subject": f"Printer {number} jams",
                "assigned_to_id": built.people["alice"],
            }
        },
        shape=IssueAnswer,
        as_login=built.logins["bob"],
    )["issue"]["id"]
    client.post(f"/issues/{built.issue_id}/watchers.json", {"user_id": built.people["dave"]})
    return built


def add_member(client: RedmineClient, project_id: int, login: str, first_name: str) -> int:
    """A new Redmine user, a developer in the project; their Redmine id."""
    user = client.post(
        "/users.json",
        {
            "user": {
                "login": login,
                "firstname": first_name,
                "lastname": "Feed",
                "mail": f"{login}@example.com",
                "password": "correct-horse-42",
            }
        },
        shape=UserAnswer,
    )["user"]
    client.post(
        f"/projects/{project_id}/memberships.json",
        {"membership": {"user_id": user["id"], "role_ids": [DEVELOPER]}},
    )
    return int(user["id"])


def source_for(scene: Scene) -> Source:
    """The feed's view of the backend: everyone has an account here except erin."""
    known = {i for name, i in scene.people.items() if name != "erin"}
    return Source(scene.client, OffsetIds(known))


@pytest.fixture(params=["database", "rest"])
def feed_app(request: pytest.FixtureRequest, redmine_server: Any) -> Iterator[Flask]:
    """An app that reads Redmine's changes from its database, or (no database) over REST."""
    settings = {"REDMINE_DB_URL": redmine_server.db_url} if request.param == "database" else {}
    app = create_app("testing", REDMINE_URL=redmine_server.url, **settings)
    with app.app_context():
        yield app
    dispose_database(app)


def read_all(source: Source, cursor: str) -> tuple[list[Change], str]:
    """Every change after the cursor, as the job reads them (batches until none is left)."""
    changes: list[Change] = []
    while True:
        batch = changes_since(source, cursor, 2)
        changes += batch.changes
        if batch.cursor == cursor:
            return changes, cursor
        cursor = batch.cursor


def mine(changes: list[Change], scene: Scene) -> list[Change]:
    """The changes of this test's issues (other tests share the Redmine)."""
    return [c for c in changes if c.task.project_id == scene.project_id]


def test_changes_made_in_redmine_by_a_third_user_are_read_once(
    feed_app: Flask, scene: Scene
) -> None:
    """A status move with notes, a comment, a reassignment and a closure, each made by carol
    through Redmine's API, come back once, in order, in helpdesk ids, with the issue's facts."""
    source = source_for(scene)
    start = changes_since(source, None).cursor
    carol = scene.logins["carol"]
    path = f"/issues/{scene.issue_id}.json"
    scene.client.put(path, {"issue": {"status_id": IN_PROGRESS, "notes": "On it"}}, as_login=carol)
    scene.client.put(path, {"issue": {"notes": "Paper tray was empty"}}, as_login=carol)
    scene.client.put(path, {"issue": {"assigned_to_id": scene.people["erin"]}}, as_login=carol)
    scene.client.put(path, {"issue": {"status_id": CLOSED}}, as_login=carol)

    changes, cursor = read_all(source, start)
    changes = mine(changes, scene)
    # dave, and whoever Redmine itself made a watcher (its "watch issues I contributed to")
    watching = scene.client.get(path, {"include": "watchers"}, shape=IssueAnswer)["issue"].get(
        "watchers", []
    )
    watchers = {
        scene.helpdesk_id(name)
        for name, redmine_id in scene.people.items()
        if redmine_id in {person["id"] for person in watching}
    }
    assert scene.helpdesk_id("dave") in watchers
    assert [
        (c.journal.notes, [(d.prop_key, d.old_value, d.new_value) for d in c.journal.details])
        for c in changes
    ] == [
        ("On it", [("status_id", "1", str(IN_PROGRESS))]),
        ("Paper tray was empty", []),
        ("", [("assigned_to_id", str(scene.helpdesk_id("alice")), None)]),  # erin: no account
        ("", [("status_id", str(IN_PROGRESS), str(CLOSED))]),
    ]
    ids = [c.journal.id for c in changes]
    assert ids == sorted(set(ids))
    for change in changes:
        assert change.journal.task_id == scene.issue_id
        assert change.journal.user.id == scene.helpdesk_id("carol")
        assert change.journal.user.name == "Carol Feed"
        assert change.task.author_id == scene.helpdesk_id("bob")
        assert change.task.assigned_to_id is None  # erin's now, and erin has no account here
        assert set(change.task.watcher_ids) == watchers
        assert change.task.subject.startswith("Printer")
    assert mine(read_all(source, cursor)[0], scene) == []  # nothing twice
    assert mine(read_all(source, start)[0], scene) == changes  # a stored cursor reads the same


def test_a_bulk_edit_made_inside_redmine_is_read(
    feed_app: Flask, scene: Scene, redmine_server: Any
) -> None:
    """Two issues resolved at once by Redmine's own code (bin/rails runner), as its bulk edit
    does: a journal each, by the user who made it."""
    source = source_for(scene)
    other = scene.client.post(
        "/issues.json",
        {"issue": {"project_id": scene.project_id, "subject": "Second"}},
        shape=IssueAnswer,
        as_login=scene.logins["bob"],
    )["issue"]["id"]
    start = changes_since(source, None).cursor
    redmine_server.rails(
        f"carol = User.find({scene.people['carol']}); "
        f"Issue.where(id: [{scene.issue_id}, {other}]).each do |issue| "
        f"issue.init_journal(carol, 'Resolved in bulk'); issue.status_id = {RESOLVED}; "
        "issue.save! end"
    )
    changes = mine(read_all(source, start)[0], scene)
    assert sorted(c.task.id for c in changes) == sorted([scene.issue_id, other])
    for change in changes:
        assert change.journal.notes == "Resolved in bulk"
        assert change.journal.user.id == scene.helpdesk_id("carol")
        assert [d.new_value for d in change.journal.details if d.prop_key == "status_id"] == [
            str(RESOLVED)
        ]


def test_private_notes_are_never_read_out(feed_app: Flask, scene: Scene) -> None:
    """Private notes are for those Redmine lets read them: the feed carries the change, not the
    text."""
    source = source_for(scene)
    start = changes_since(source, None).cursor
    scene.client.put(
        f"/issues/{scene.issue_id}.json",
        {"issue": {"notes": "salary details", "private_notes": True}},
        as_login=scene.logins["carol"],
    )
    (change,) = mine(read_all(source, start)[0], scene)
    assert change.journal.notes == ""


def test_a_journal_committed_after_a_later_one_is_not_lost(
    scene: Scene, redmine_server: Any
) -> None:
    """Journal ids are handed out before commit: an id skipped by one poll (its transaction
    still open) is asked for again and delivered when it commits."""
    app = create_app("testing", REDMINE_DB_URL=redmine_server.db_url)
    with app.app_context():
        source = source_for(scene)
        start = changes_since(source, None).cursor
        newest = Cursor.parse(start).journal
        late, early = newest + 1, newest + 2
        insert = (
            "INSERT INTO journals (id, journalized_id, journalized_type, user_id, notes, "
            "created_on, private_notes) VALUES (:id, :issue, 'Issue', :user, :notes, "
            "UTC_TIMESTAMP(), 0)"
        )
        values = {"issue": scene.issue_id, "user": scene.people["carol"]}
        redmine_server.sql(insert, id=early, notes="committed first", **values)
        first = changes_since(source, start)
        assert [c.journal.id for c in first.changes] == [early]
        assert late in Cursor.parse(first.cursor).gaps
        redmine_server.sql(insert, id=late, notes="committed late", **values)
        second = changes_since(source, first.cursor)
        assert [(c.journal.id, c.journal.notes) for c in second.changes] == [
            (late, "committed late")
        ]
        assert Cursor.parse(second.cursor).gaps == {}
        assert changes_since(source, second.cursor).changes == []
    dispose_database(app)


def test_times_are_read_in_redmines_time_zone(scene: Scene, redmine_server: Any) -> None:
    """Redmine writes local times without a zone: REDMINE_TIMEZONE says which, and the feed
    hands out UTC."""
    app = create_app(
        "testing", REDMINE_DB_URL=redmine_server.db_url, REDMINE_TIMEZONE="Europe/Moscow"
    )
    with app.app_context():
        source = source_for(scene)
        start = changes_since(source, None).cursor
        scene.client.put(
            f"/issues/{scene.issue_id}.json",
            {"issue": {"notes": "what time is it"}},
            as_login=scene.logins["carol"],
        )
        (change,) = mine(read_all(source, start)[0], scene)
        ((stored,),) = redmine_server.sql(
            "SELECT created_on FROM journals WHERE id = :id", id=change.journal.id
        )
        assert (stored - change.journal.created_on).total_seconds() == 3 * 3600
    dispose_database(app)


def test_an_unreachable_database_is_an_outage_not_a_crash(redmine_server: Any) -> None:
    """A database that does not answer raises BackendUnavailable within the timeout."""
    app = create_app(
        "testing",
        REDMINE_DB_URL="mysql+pymysql://root@127.0.0.1:3129/redmine",
        REDMINE_TIMEOUT=2,
    )
    with app.app_context():
        began = time.monotonic()
        with pytest.raises(BackendUnavailable):
            changes_since(Source(RedmineClient(redmine_server.url, "x", 2), OffsetIds(set())), "1")
        assert time.monotonic() - began < 10
    dispose_database(app)


def test_a_journal_committed_long_after_it_was_written_is_read_once_over_rest(
    scene: Scene, redmine_server: Any
) -> None:
    """Without the database: a journal written five minutes ago whose transaction commits only
    now, after later journals were read (its issue's updated_on is as old as it is, far outside
    any fixed overlap), is found by the journal id the feed skipped over and read once."""
    carol = scene.logins["carol"]
    path = f"/issues/{scene.issue_id}.json"
    scene.client.put(path, {"issue": {"notes": "an hour ago"}}, as_login=carol)
    other = scene.client.post(
        "/issues.json",
        {"issue": {"project_id": scene.project_id, "subject": "Toner low"}},
        shape=IssueAnswer,
        as_login=scene.logins["bob"],
    )["issue"]["id"]
    redmine_server.sql(  # Redmine's history so far happened an hour ago
        "UPDATE journals SET created_on = created_on - INTERVAL 1 HOUR"
    )
    redmine_server.sql(
        "UPDATE issues SET created_on = created_on - INTERVAL 1 HOUR, "
        "updated_on = updated_on - INTERVAL 1 HOUR"
    )
    app = create_app("testing", REDMINE_URL=redmine_server.url)  # no REDMINE_DB_URL: REST
    with app.app_context():
        source = source_for(scene)
        start = changes_since(source, None).cursor
        [(newest,)] = redmine_server.sql("SELECT MAX(id) FROM journals")
        late = newest + 1  # its transaction has the id, and commits at the end
        written = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(minutes=5)
        insert = (
            "INSERT INTO journals (id, journalized_id, journalized_type, user_id, notes, "
            "created_on, private_notes) VALUES (:id, :issue, 'Issue', :user, :notes, :at, 0)"
        )
        values = {"user": scene.people["carol"], "at": written}
        redmine_server.sql(insert, id=late + 1, issue=scene.issue_id, notes="next", **values)
        scene.client.put(path, {"issue": {"notes": "written now"}}, as_login=carol)
        first, after_first = read_all(source, start)
        assert [c.journal.notes for c in mine(first, scene)] == ["next", "written now"]
        assert late in Cursor.parse(after_first).gaps

        redmine_server.sql(insert, id=late, issue=other, notes="committed late", **values)
        redmine_server.sql(
            "UPDATE issues SET updated_on = :at WHERE id = :id", at=written, id=other
        )
        second, after_second = read_all(source, after_first)
        assert [(c.journal.id, c.task.id, c.journal.notes) for c in second] == [
            (late, other, "committed late")
        ]
        assert Cursor.parse(after_second).gaps == {}
        assert read_all(source, after_second)[0] == []  # once
        assert read_all(source, after_first)[0] == second  # a restart from the stored cursor
