"""The Redmine backend's cache across processes, on a real Redmine and a real Redis: a task read
is kept (longer off hours), and a change seen by the change feed in one process, or made by the
person in another, drops exactly that task's reads everywhere, so nobody sees it stale after."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from test_redmine_change_feed import FEED, close_app, redmine_settings
from test_redmine_feed_source import NUMBERS, add_member

from conftest import REDIS_URL
from helpdesk import create_app
from helpdesk.extensions import db
from helpdesk.integrations.redmine.answers import IssueAnswer, ProjectAnswer
from helpdesk.integrations.redmine.client import RedmineClient
from helpdesk.tasks.backends.redmine import TASK_SECONDS, TASKS, task_tag
from helpdesk.users import service
from helpdesk.worker import run_job

pytestmark = pytest.mark.redmine

NEW, IN_PROGRESS, RESOLVED = 1, 2, 3
FACTOR = 4


def off_hours_now() -> str:
    """WORKING_HOURS that leave the present hour out (in UTC): the longer lifetimes apply."""
    start = (datetime.now(UTC) + timedelta(hours=2)).strftime("%H:00")
    end = (datetime.now(UTC) + timedelta(hours=3)).strftime("%H:00")
    return f"{start}-{end}"


@pytest.fixture
def apps(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    databases: Any,
    redmine_server: Any,
    prefix: str,
) -> Iterator[tuple[Flask, Flask]]:
    """Two processes' apps of one helpdesk on the real Redmine: a web one and the worker's,
    sharing the helpdesk's database and the cache in Redis, off hours."""
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path / "instance"))
    uri = databases.create(tmp_path)
    settings = {
        **redmine_settings(redmine_server, "database"),
        "REDMINE_READS": "rest",  # the task cache is the REST path's (the database needs none)
        "SQLALCHEMY_DATABASE_URI": uri,
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": prefix,
        "WORKING_HOURS": off_hours_now(),
        "WORKING_DAYS": ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        "DISPLAY_TIMEZONE": "UTC",
        "CACHE_OFF_HOURS_FACTOR": FACTOR,
    }
    # no app context held by the test: each request and job has its own, as in a real process
    web, worker = create_app("testing", **settings), create_app("testing", **settings)
    yield web, worker
    for application in (web, worker):
        close_app(application)
    databases.drop(uri)


class Scene:
    """A project with alice (a helpdesk user) and carol (Redmine only), and alice's task."""

    def __init__(self, web: Flask, redmine_server: Any) -> None:
        number = next(NUMBERS)
        self.client = RedmineClient(redmine_server.url, redmine_server.api_key, timeout=10)
        project = self.client.post(
            "/projects.json",
            {"project": {"name": f"Cache {number}", "identifier": f"cache-{number}"}},
            shape=ProjectAnswer,
        )["project"]["id"]
        self.alice, self.carol = f"alice{number}", f"carol{number}"
        alice_id = add_member(self.client, project, self.alice, "Alice")
        add_member(self.client, project, self.carol, "Carol")
        issue = {"project_id": project, "subject": "Printer jam", "assigned_to_id": alice_id}
        self.task_id = int(
            self.client.post(
                "/issues.json", {"issue": issue}, shape=IssueAnswer, as_login=self.carol
            )["issue"]["id"]
        )
        with web.app_context():
            service.create_user(
                self.alice, f"{self.alice}@example.com", "password-123", is_redmine_user=True
            )
            db.session.commit()

    def status_seen(self, web: Flask) -> int:
        """The task's status as alice's next request in the web process reads it."""
        http = web.test_client()
        answer = http.post(
            "/users/login", json={"username": self.alice, "password": "password-123"}
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
        answer = http.get(f"/tasks/api/task/{self.task_id}", headers={"Accept": "application/json"})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return int(answer.json["data"]["status_id"])


@pytest.fixture
def scene(apps: tuple[Flask, Flask], redmine_server: Any) -> Iterator[Scene]:
    """The people and the task, and the feed started from now."""
    built = Scene(apps[0], redmine_server)
    assert run_job(apps[1], FEED) == "ran"
    yield built
    built.client.close()


def cached_reads(app: Flask, prefix: str, task_id: int) -> dict[str, int]:
    """The reads of a task kept in Redis under its current version (what a request would find),
    with their remaining lifetimes (seconds)."""
    with app.app_context():
        version = TASKS.version(task_tag(task_id))
    client = redis.Redis.from_url(REDIS_URL)
    keys = {key.decode(): client.ttl(key) for key in client.scan_iter(f"{prefix}*")}
    client.close()
    current = f"redmine-tasks:task:{task_id}:{version}:"
    return {key: ttl for key, ttl in keys.items() if current in key}


def test_a_change_seen_by_the_feed_in_the_worker_drops_the_webs_cached_task(
    apps: tuple[Flask, Flask], scene: Scene, prefix: str
) -> None:
    web, worker = apps
    assert scene.status_seen(web) == NEW
    kept = cached_reads(web, prefix, scene.task_id)
    # alice's read, and the watchers her role may not see (read by the administrator)
    assert sorted(key.rsplit(":", 1)[1] for key in kept) == [scene.alice, "watchers"]
    assert all(TASK_SECONDS < ttl <= TASK_SECONDS * FACTOR for ttl in kept.values())  # off hours

    scene.client.put(
        f"/issues/{scene.task_id}.json", {"issue": {"status_id": IN_PROGRESS}}, as_login=scene.carol
    )
    # until the feed has seen the change, the web process serves the read it keeps
    assert scene.status_seen(web) == NEW

    assert run_job(worker, FEED) == "ran"
    assert (
        cached_reads(web, prefix, scene.task_id) == {}
    )  # nothing of the old version is read again
    assert scene.status_seen(web) == IN_PROGRESS


def test_the_feed_drops_only_the_tasks_it_saw_change(
    apps: tuple[Flask, Flask], scene: Scene, prefix: str, redmine_server: Any
) -> None:
    web, worker = apps
    other = Scene(web, redmine_server)
    assert scene.status_seen(web) == NEW
    assert other.status_seen(web) == NEW
    scene.client.put(
        f"/issues/{scene.task_id}.json", {"issue": {"notes": "Paper loaded"}}, as_login=scene.carol
    )
    assert run_job(worker, FEED) == "ran"
    assert cached_reads(web, prefix, scene.task_id) == {}
    assert len(cached_reads(web, prefix, other.task_id)) == 2
    other.client.close()


def test_a_persons_own_change_in_one_process_is_read_in_another_at_once(
    apps: tuple[Flask, Flask], scene: Scene
) -> None:
    web, worker = apps
    assert scene.status_seen(web) == NEW
    assert scene.status_seen(worker) == NEW  # both processes now keep... one shared read
    http = web.test_client()
    http.post("/users/login", json={"username": scene.alice, "password": "password-123"})
    answer = http.put(
        f"/tasks/api/task/{scene.task_id}/status",
        json={"status_id": IN_PROGRESS},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert scene.status_seen(worker) == IN_PROGRESS  # before any feed has run
