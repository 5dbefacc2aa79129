"""Periodic jobs: the locks that keep a job single, the runner, `helpdesk worker` and embedding."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import sqlalchemy
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import update

from conftest import require_service
from helpdesk.core.locks import advisory_lock, file_lock, redis_lock, try_lock
from helpdesk.core.models import utcnow
from helpdesk.extensions import db
from helpdesk.users.models import User
from helpdesk.worker import JOBS, Job, build_scheduler, run_job, start_embedded
from helpers import HELPDESK, helpdesk_serving, user_row

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

LockFactory = Callable[[str], AbstractContextManager[bool]]


@pytest.fixture(params=["file", "postgres", "redis"])
def make_lock(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LockFactory]:
    """Each lock backend, as a function of the lock's name."""
    if request.param == "file":
        yield lambda name: file_lock(tmp_path, name)
    elif request.param == "postgres":
        engine = sqlalchemy.create_engine(POSTGRES_URL, poolclass=sqlalchemy.NullPool)
        try:
            engine.connect().close()
        except sqlalchemy.exc.OperationalError as error:
            require_service("PostgreSQL", str(error))
        yield lambda name: advisory_lock(engine, name)
        engine.dispose()
    else:
        try:
            redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
        except redis.RedisError as error:
            require_service("Redis", str(error))
        prefix = uuid.uuid4().hex
        yield lambda name: redis_lock(REDIS_URL, f"{prefix}-{name}", lease_seconds=30)


def test_a_held_lock_is_refused_and_free_again_after(make_lock: LockFactory) -> None:
    name = f"job-{uuid.uuid4().hex}"
    with make_lock(name) as first:
        assert first is True
        with make_lock(name) as second:
            assert second is False
        with make_lock(f"{name}-other") as other:
            assert other is True
    with make_lock(name) as again:
        assert again is True


def test_threads_racing_for_a_lock_never_overlap(make_lock: LockFactory) -> None:
    name = f"job-{uuid.uuid4().hex}"
    inside, overlaps, runs = [0], [0], [0]
    guard = threading.Lock()

    def contend() -> None:
        for _ in range(20):
            with make_lock(name) as taken:
                if not taken:
                    continue
                with guard:
                    inside[0] += 1
                    overlaps[0] += inside[0] > 1
                    runs[0] += 1
                time.sleep(0.002)
                with guard:
                    inside[0] -= 1

    threads = [threading.Thread(target=contend) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps[0] == 0
    assert runs[0] >= 1


CALLS: list[str] = []


def record_call() -> None:
    """A job target for the tests below."""
    CALLS.append("called")


def fail() -> None:
    """A job target that breaks."""
    raise RuntimeError("job broke")


def test_run_job_runs_skips_when_held_elsewhere_and_survives_failure(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    CALLS.clear()
    job = Job("probe", f"{__name__}:record_call", "PRESENCE_INTERVAL")
    assert run_job(app, job) == "ran"
    assert CALLS == ["called"]

    with try_lock(app, "probe", lease_seconds=30) as taken:  # as another process would
        assert taken
        assert run_job(app, job) == "skipped"
    assert CALLS == ["called"]

    broken = Job("broken", f"{__name__}:fail", "PRESENCE_INTERVAL")
    assert run_job(app, broken) == "failed"
    assert "job broken failed" in caplog.text


def test_every_declared_job_names_a_function_and_an_interval(app: Flask) -> None:
    for job in JOBS:
        assert callable(job.function())
        if job.daily_at_key:
            assert 0 <= app.config[job.daily_at_key] <= 23
        else:
            assert app.config[job.interval_key] > 0


def stale_online_user(make_user: Callable[..., User]) -> User:
    """A user marked online whose server stopped beating an hour ago."""
    user = make_user()
    db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(online=True, last_seen=utcnow() - timedelta(hours=1))
    )
    db.session.commit()
    return user


def environment_of(app: Flask, **settings: str) -> dict[str, str]:
    """Environment for a `helpdesk` process on the test's database and instance folder."""
    return {
        **os.environ,
        "HELPDESK_ENV": "testing",
        "HELPDESK_INSTANCE_PATH": app.instance_path,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        **settings,
    }


def test_worker_once_runs_every_job_in_its_own_process(
    app: Flask, make_user: Callable[..., User]
) -> None:
    user = stale_online_user(make_user)
    env = environment_of(app)
    result = subprocess.run(
        [HELPDESK, "worker", "--once"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for job in JOBS:
        assert f"{job.name}: ran" in result.stdout
    assert user_row(user.id)["online"] is False


@pytest.mark.parametrize("web_worker", ["gthread", "gevent"])
def test_a_production_server_runs_the_jobs_itself(
    app: Flask, make_user: Callable[..., User], web_worker: str
) -> None:
    user = stale_online_user(make_user)
    env = environment_of(
        app,
        HELPDESK_ENV="production",
        SECRET_KEY="test-secret-key-0123456789abcdef",
        WEB_WORKER=web_worker,
        LOG_REQUESTS="false",
    )
    with helpdesk_serving(env):
        deadline = time.monotonic() + 15
        while user_row(user.id)["online"] and time.monotonic() < deadline:
            time.sleep(0.1)
    assert user_row(user.id)["online"] is False


def test_the_embedded_scheduler_runs_the_jobs_in_the_server_process(
    app: Flask, make_user: Callable[..., User]
) -> None:
    user = stale_online_user(make_user)
    scheduler = start_embedded(app)
    assert scheduler is not None
    try:
        deadline = time.monotonic() + 10
        while user_row(user.id)["online"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown()
    assert user_row(user.id)["online"] is False


def test_the_jobs_run_on_the_configured_clock(app: Flask) -> None:
    app.config["SCHEDULER_TIMEZONE"] = "Asia/Tokyo"
    scheduler = build_scheduler(app, BackgroundScheduler)
    assert str(scheduler.timezone) == "Asia/Tokyo"
    triggers = [job.trigger for job in scheduler.get_jobs()]
    assert len(triggers) == len(JOBS)
    assert {str(trigger.timezone) for trigger in triggers} == {"Asia/Tokyo"}


def test_no_scheduler_starts_when_a_separate_worker_runs_the_jobs(app: Flask) -> None:
    app.config["JOBS_EMBEDDED"] = False
    assert start_embedded(app) is None
