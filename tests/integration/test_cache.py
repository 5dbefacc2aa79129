"""The application's one cache: in the process by default, in Redis when processes share it, and
the lookups it keeps forgotten by whatever changes them."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from flask import Flask
from sqlalchemy import update

from conftest import REDIS_URL
from helpdesk import create_app
from helpdesk.extensions import cache, db
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.models import TaskStatus
from helpers import HELPDESK


def first_status_name(app: Flask) -> str:
    """The first status as a request of this app sees it."""
    with app.app_context():
        name = get_backend().statuses()[0].name
        db.session.remove()
    return name


def rename_first_status(name: str) -> None:
    """Change a lookup behind the cache's back, as SQL by hand would."""
    db.session.execute(update(TaskStatus).where(TaskStatus.position == 1).values(name=name))
    db.session.commit()


@pytest.fixture
def second_app(app: Flask) -> Iterator[Callable[..., Flask]]:
    """Another app on the test's database (another process's view), with its own settings; its
    connections are closed afterwards."""
    made: list[Flask] = []

    def make(**settings: str) -> Flask:
        made.append(
            create_app(
                "testing", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], **settings
            )
        )
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


def migrate_in_another_process(app: Flask, **settings: str) -> None:
    """Run `helpdesk db upgrade` on the test's database, as an operator would."""
    env = {
        **os.environ,
        "HELPDESK_ENV": "testing",
        "HELPDESK_INSTANCE_PATH": app.instance_path,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        **settings,
    }
    result = subprocess.run(
        [HELPDESK, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_migration_in_another_process_reaches_every_process_through_redis(
    app: Flask, prefix: str, second_app: Callable[..., Flask]
) -> None:
    web = second_app(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=REDIS_URL, CACHE_KEY_PREFIX=prefix)
    assert first_status_name(web) == "New"
    rename_first_status("Fresh")
    assert first_status_name(web) == "New"  # the version in Redis is the same: kept
    assert redis.Redis.from_url(REDIS_URL).exists(f"{prefix}task-lookups-version")
    migrate_in_another_process(
        app, CACHE_TYPE="RedisCache", CACHE_REDIS_URL=REDIS_URL, CACHE_KEY_PREFIX=prefix
    )
    assert first_status_name(web) == "Fresh"


def test_a_redis_that_does_not_answer_fails_within_the_timeout(
    second_app: Callable[..., Flask],
) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        web = second_app(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        with web.app_context(), pytest.raises(redis.TimeoutError):
            cache.get("anything")
        assert time.monotonic() - started < 10


def test_an_unknown_cache_type_stops_the_start() -> None:
    with pytest.raises(RuntimeError, match="CACHE_TYPE must be 'SimpleCache' or 'RedisCache'"):
        create_app("testing", CACHE_TYPE="redis")
