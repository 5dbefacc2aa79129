"""The change feed on a real Redmine (MariaDB): changes made inside Redmine reach the people who
care, once, on every channel, whether read from Redmine's database or over its REST API; the
helpdesk's own changes are not announced twice; a restart loses and repeats nothing; an outage
is waited out and what changed during it is delivered afterwards."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import make_url, select
from test_realtime import received, socket_for
from test_redmine_feed_source import NUMBERS, add_member

from conftest import RequestScopedClient, wait_for_connections_back
from helpdesk import create_app
from helpdesk.core.models import SiteSetting, utcnow
from helpdesk.extensions import db
from helpdesk.integrations.redmine.answers import IssueAnswer, ProjectAnswer
from helpdesk.integrations.redmine.client import RedmineClient
from helpdesk.integrations.redmine.database import dispose_database
from helpdesk.notifications.models import Notifications
from helpdesk.tasks.feed import cursor_key, feed_outage, outage_key
from helpdesk.worker import JOBS, run_job
from helpers import fresh

pytestmark = pytest.mark.redmine

FEED = next(job for job in JOBS if job.name == "follow_changes")
NEW, IN_PROGRESS, RESOLVED, CLOSED = 1, 2, 3, 5


def redmine_settings(server: Any, way: str) -> dict[str, Any]:
    """The settings of a helpdesk on this Redmine, reading changes the given way."""
    settings: dict[str, Any] = {
        "TASK_BACKEND": "redmine",
        "REDMINE_URL": server.url,
        "REDMINE_API_KEY": server.api_key,
        "REDMINE_TIMEOUT": 3,
    }
    if way == "database":
        settings["REDMINE_DB_URL"] = server.db_url
    return settings


def close_app(application: Flask) -> None:
    """Give back an app's connections: the helpdesk's and Redmine's database pools."""
    with application.app_context():
        db.session.remove()
        wait_for_connections_back()
        db.engine.dispose()
    dispose_database(application)


@pytest.fixture(params=["database", "rest"])
def way(request: pytest.FixtureRequest) -> str:
    """How the feed reads Redmine: its database, or (none configured) its REST API."""
    return str(request.param)


@pytest.fixture
def app(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    databases: Any,
    redmine_server: Any,
    way: str,
) -> Iterator[Flask]:
    """A helpdesk on the real Redmine, on its own freshly migrated database."""
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path / "instance"))
    uri = databases.create(tmp_path)
    application = create_app(
        "testing", SQLALCHEMY_DATABASE_URI=uri, **redmine_settings(redmine_server, way)
    )
    application.test_client_class = RequestScopedClient
    with application.app_context():
        yield application
    close_app(application)
    databases.drop(uri)


@dataclass
class Scene:
    """Redmine people (logins by name, ids), a project and an issue: bob's, assigned to alice,
    watched by dave; carol, who changes it, has no helpdesk account; the others have one."""

    client: RedmineClient
    project_id: int = 0
    logins: dict[str, str] = field(default_factory=dict)
    redmine_ids: dict[str, int] = field(default_factory=dict)
    helpdesk: dict[str, Any] = field(default_factory=dict)
    issue_id: int = 0

    def put(self, name: str, issue_id: int, **fields: Any) -> None:
        """Change an issue through Redmine's API as one of its users."""
        self.client.put(f"/issues/{issue_id}.json", {"issue": fields}, as_login=self.logins[name])

    def add_issue(self, subject: str) -> int:
        """Another issue of bob's, assigned to alice, watched by dave."""
        issue_id = int(
            self.client.post(
                "/issues.json",
                {
                    "issue": {
                        "project_id": self.project_id,
                        "subject": subject,
                        "assigned_to_id": self.redmine_ids["alice"],
                    }
                },
                shape=IssueAnswer,
                as_login=self.logins["bob"],
            )["issue"]["id"]
        )
        self.client.post(f"/issues/{issue_id}/watchers.json", {"user_id": self.redmine_ids["dave"]})
        return issue_id


@pytest.fixture
def scene(app: Flask, redmine_server: Any, make_user: Any) -> Iterator[Scene]:
    """The people and the issue, in Redmine and (but carol) in the helpdesk."""
    client = RedmineClient(redmine_server.url, redmine_server.api_key, timeout=10)
    number = next(NUMBERS)
    built = Scene(client)
    built.project_id = client.post(
        "/projects.json",
        {"project": {"name": f"Live {number}", "identifier": f"live-{number}"}},
        shape=ProjectAnswer,
    )["project"]["id"]
    for name in ("alice", "bob", "carol", "dave"):
        login = f"{name}{number}"
        built.logins[name] = login
        built.redmine_ids[name] = add_member(client, built.project_id, login, name.title())
        if name != "carol":
            built.helpdesk[name] = make_user(login, is_redmine_user=True)
    built.issue_id = built.add_issue(f"Scanner {number} is offline")
    yield built
    client.close()


def run_feed(application: Flask) -> str:
    """Run the feed job as the worker does, the test's own transaction ended first."""
    db.session.rollback()
    return run_job(application, FEED)


def rows_by_event(scene: Scene) -> dict[str, list[str]]:
    """Committed notifications of this scene's people: who was told of each change."""
    fresh()
    names = {user.id: name for name, user in scene.helpdesk.items()}
    by_event: dict[str, list[str]] = {}
    for key, user_id in db.session.execute(
        select(Notifications.event_key, Notifications.user_id).order_by(Notifications.id)
    ):
        if user_id in names:
            by_event.setdefault(key, []).append(names[user_id])
    db.session.rollback()
    return {key: sorted(people) for key, people in by_event.items()}


def page_of(app: Flask, login: Any, user: Any) -> Any:
    """An open page of the user's: a Socket.IO client in their session."""
    http = app.test_client()
    login(user, the_client=http)
    sock = socket_for(app, http)
    received(sock)
    return sock


def heard(sock: Any) -> dict[str, int]:
    """How many of each event a page received since the last call."""
    return {name: len(payloads) for name, payloads in received(sock).items()}


def journal_ids(redmine_server: Any, issue_id: int) -> list[int]:
    """The ids of an issue's journals, oldest first, read from Redmine's tables."""
    rows = redmine_server.sql(
        "SELECT id FROM journals WHERE journalized_type = 'Issue' AND journalized_id = :issue "
        "ORDER BY id",
        issue=issue_id,
    )
    return [row[0] for row in rows]


def test_a_third_users_changes_reach_the_watcher_once_reassignment_and_closure_included(
    app: Flask, scene: Scene, login: Any, redmine_server: Any
) -> None:
    assert run_feed(app) == "ran"  # the feed starts from now
    dave = page_of(app, login, scene.helpdesk["dave"])
    scene.put("carol", scene.issue_id, status_id=IN_PROGRESS, notes="Looking at it")
    scene.put("carol", scene.issue_id, notes="The cable was loose")
    scene.put("carol", scene.issue_id, assigned_to_id=scene.redmine_ids["dave"])
    scene.put("carol", scene.issue_id, status_id=CLOSED)
    moved, commented, reassigned, closed = journal_ids(redmine_server, scene.issue_id)

    assert run_feed(app) == "ran"
    # the task's people as it is now: author bob, assignee and watcher dave (alice no longer);
    # carol, who has no account here, is nobody
    assert rows_by_event(scene) == {
        f"redmine-journal:{moved}": ["bob", "dave"],
        f"redmine-journal:{commented}": ["bob", "dave"],
        f"redmine-journal:{reassigned}": ["dave"],
        f"redmine-journal:{closed}": ["bob", "dave"],
    }
    # the comment also tells dave's open task pages to read the task again
    assert heard(dave) == {"new_notification": 4, "task_status_changed": 2, "task_changed": 1}
    fresh()
    kinds = (
        db.session.execute(
            select(Notifications.type).where(
                Notifications.event_key == f"redmine-journal:{reassigned}"
            )
        )
        .scalars()
        .all()
    )
    assert kinds == ["assigned"]

    assert run_feed(app) == "ran"
    assert heard(dave) == {}
    assert len(rows_by_event(scene)) == 4


def test_a_bulk_edit_inside_redmine_reaches_the_watcher(
    app: Flask, scene: Scene, login: Any, redmine_server: Any
) -> None:
    other = scene.add_issue("Toner low")
    assert run_feed(app) == "ran"
    dave = page_of(app, login, scene.helpdesk["dave"])
    redmine_server.rails(
        f"carol = User.find({scene.redmine_ids['carol']}); "
        f"Issue.where(id: [{scene.issue_id}, {other}]).each do |issue| "
        f"issue.init_journal(carol, 'Resolved in bulk'); issue.status_id = {RESOLVED}; "
        "issue.save! end"
    )
    assert run_feed(app) == "ran"
    keys = {
        f"redmine-journal:{journal_ids(redmine_server, issue)[-1]}"
        for issue in (scene.issue_id, other)
    }
    assert rows_by_event(scene) == {key: ["alice", "bob", "dave"] for key in keys}
    assert heard(dave) == {"new_notification": 2, "task_status_changed": 2}


def test_the_helpdesks_own_change_is_announced_once(
    app: Flask, scene: Scene, login: Any, client: Any
) -> None:
    assert run_feed(app) == "ran"
    dave = page_of(app, login, scene.helpdesk["dave"])
    login(scene.helpdesk["alice"])
    response = client.put(
        f"/tasks/api/task/{scene.issue_id}/status",
        json={"status_id": IN_PROGRESS, "comment": "Mine now"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    told = rows_by_event(scene)
    assert list(told.values()) == [["bob", "dave"]]  # never alice, who made it
    assert heard(dave) == {"new_notification": 1, "task_status_changed": 1}

    assert run_feed(app) == "ran"  # the feed meets the same journal in Redmine
    assert rows_by_event(scene) == told
    assert heard(dave) == {}


def test_a_restart_mid_stream_loses_and_repeats_nothing(
    app: Flask, scene: Scene, redmine_server: Any, way: str
) -> None:
    assert run_feed(app) == "ran"
    scene.put("carol", scene.issue_id, notes="Before the restart")
    assert run_feed(app) == "ran"
    scene.put("carol", scene.issue_id, notes="While the helpdesk was down")
    before, during = journal_ids(redmine_server, scene.issue_id)

    restarted = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        **redmine_settings(redmine_server, way),
    )
    try:
        assert run_job(restarted, FEED) == "ran"
        assert run_job(restarted, FEED) == "ran"
        with restarted.app_context():
            cursor = SiteSetting.get(cursor_key("redmine"))
            db.session.remove()
    finally:
        close_app(restarted)
    assert cursor is not None
    assert f'"journal":{during}' in cursor
    assert rows_by_event(scene) == {
        f"redmine-journal:{before}": ["alice", "bob", "dave"],
        f"redmine-journal:{during}": ["alice", "bob", "dave"],
    }


def expire_backoff() -> None:
    """Let the next run try at once instead of waiting out the backoff."""
    fresh()
    outage = feed_outage("redmine")
    assert outage is not None
    outage["retry_at"] = (utcnow() - timedelta(seconds=1)).isoformat()
    SiteSetting.put(outage_key("redmine"), json.dumps(outage))
    db.session.commit()


READER = "helpdesk_feed_reader"  # a MariaDB account for the feed alone, to lock out


@pytest.fixture
def own_reader(app: Flask, redmine_server: Any, way: str) -> Iterator[None]:
    """The database way reads through an account of the feed's own, removed afterwards."""
    if way != "database":
        yield
        return
    use_own_reader(app, redmine_server)
    yield
    dispose_database(app)
    redmine_server.sql(f"DROP USER IF EXISTS '{READER}'@'%'")


def use_own_reader(app: Flask, redmine_server: Any) -> None:
    """Read Redmine's database through an account of the feed's own (SELECT only)."""
    url = make_url(redmine_server.db_url)
    redmine_server.sql(f"CREATE USER IF NOT EXISTS '{READER}'@'%'")
    redmine_server.sql(f"GRANT SELECT ON `{url.database}`.* TO '{READER}'@'%'")
    redmine_server.sql(f"ALTER USER '{READER}'@'%' ACCOUNT UNLOCK")
    own = url.set(username=READER, password=None)
    app.config["REDMINE_DB_URL"] = own.render_as_string(hide_password=False)
    dispose_database(app)


def lock_out_database(redmine_server: Any) -> None:
    """Take the feed's database access away: its account locked, its connections ended."""
    redmine_server.sql(f"ALTER USER '{READER}'@'%' ACCOUNT LOCK")
    for (connection_id,) in redmine_server.sql(
        "SELECT id FROM information_schema.processlist WHERE user = :user", user=READER
    ):
        redmine_server.sql(f"KILL {int(connection_id)}")


def let_database_in(redmine_server: Any) -> None:
    """Give the feed's account its access back."""
    redmine_server.sql(f"ALTER USER '{READER}'@'%' ACCOUNT UNLOCK")


def test_an_outage_is_waited_out_and_what_changed_meanwhile_is_delivered(
    app: Flask,
    scene: Scene,
    login: Any,
    client: Any,
    redmine_server: Any,
    way: str,
    own_reader: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redmine's web server (REST way) or its database access (database way) goes away: each
    run fails quietly after the first warning, admins see it, and the changes made meanwhile
    (inside Redmine) are delivered once it is back."""
    admin = scene.helpdesk["alice"]
    admin.is_admin = True
    db.session.commit()
    assert run_feed(app) == "ran"
    with caplog.at_level(logging.WARNING, logger="helpdesk.tasks.feed"):
        if way == "rest":
            redmine_server.stop()
        else:
            lock_out_database(redmine_server)
        try:
            redmine_server.rails(
                f"issue = Issue.find({scene.issue_id}); "
                f"issue.init_journal(User.find({scene.redmine_ids['carol']}), 'Done offline'); "
                f"issue.status_id = {RESOLVED}; issue.save!"
            )
            assert run_feed(app) == "ran"
            expire_backoff()
            assert run_feed(app) == "ran"
            fresh()
            outage = feed_outage("redmine")
            assert outage is not None
            assert outage["failures"] == 2
            assert rows_by_event(scene) == {}
            login(admin)
            page = client.get("/admin/users").get_data(as_text=True)
            assert 'id="feed-outage"' in page
        finally:
            if way == "rest":
                redmine_server.serve()
            else:
                let_database_in(redmine_server)
        expire_backoff()
        assert run_feed(app) == "ran"
    (journal,) = journal_ids(redmine_server, scene.issue_id)
    assert rows_by_event(scene) == {f"redmine-journal:{journal}": ["alice", "bob", "dave"]}
    fresh()
    assert feed_outage("redmine") is None
    warnings = [r.getMessage() for r in caplog.records if r.name == "helpdesk.tasks.feed"]
    assert len(warnings) == 2, warnings  # one when it went away, one when it came back
    assert "trying again with backoff" in warnings[0]
    assert "reading again" in warnings[1]
    page = client.get("/admin/users").get_data(as_text=True)
    assert 'id="feed-outage"' not in page
