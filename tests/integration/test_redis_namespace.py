"""Two helpdesks on one Redis: REDIS_NAMESPACE keeps their sessions, sign-in limits, job locks,
cache and Socket.IO channel apart (without it, one site's session cookie signed in on the other)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from flask import Flask

from conftest import PASSWORD, REDIS_URL, require_service
from helpdesk import create_app
from helpdesk.config import ConfigurationError
from helpdesk.core.locks import try_lock
from helpdesk.extensions import cache, db
from helpdesk.users.models import User
from helpers import is_logged_in, json_sign_in


@pytest.fixture
def site(app: Flask) -> Iterator[Callable[[str], Flask]]:
    """A helpdesk with its sessions, limits, locks and cache in the shared test Redis, on the
    test's database; its keys are removed afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        require_service("Redis", str(error))
    made: list[Flask] = []

    def make(namespace: str) -> Flask:
        made.append(
            create_app(
                "testing",
                SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                REDIS_NAMESPACE=namespace,
                SESSION_TYPE="redis",
                SESSION_REDIS_URL=REDIS_URL,
                RATELIMIT_STORAGE_URI=REDIS_URL,
                CACHE_TYPE="RedisCache",
                CACHE_REDIS_URL=REDIS_URL,
                JOBS_LOCK_URL=REDIS_URL,
                LOGIN_RATE_LIMIT="2 per minute",
            )
        )
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()
        for key in client.scan_iter(f"*{other.config['REDIS_NAMESPACE']}*"):
            client.delete(key)
    client.close()


def namespaces() -> tuple[str, str]:
    """Two names no other test uses."""
    tag = uuid.uuid4().hex
    return f"helpdesk-test-a-{tag}", f"helpdesk-test-b-{tag}"


def test_the_default_names_are_those_of_earlier_releases(app: Flask) -> None:
    assert app.config["CACHE_KEY_PREFIX"] == "helpdesk:"
    assert app.config["SOCKETIO_CHANNEL"] == "helpdesk-socketio"


def test_one_sites_session_cookie_is_nobody_on_the_other(
    site: Callable[[str], Flask], make_user: Callable[..., User]
) -> None:
    make_user("alice")
    first, second = (site(name) for name in namespaces())
    on_first = first.test_client()
    assert json_sign_in(on_first, "alice", PASSWORD).status_code == 200
    cookie = on_first.get_cookie("session")
    assert cookie is not None
    on_second = second.test_client()
    on_second.set_cookie("session", cookie.value)
    assert not is_logged_in(on_second)
    assert is_logged_in(on_first)


def test_the_same_namespace_shares_the_session(
    site: Callable[[str], Flask], make_user: Callable[..., User]
) -> None:
    """The check above can fail: one name for both sites is one session store."""
    make_user("alice")
    name, _ = namespaces()
    first, second = site(name), site(name)
    on_first = first.test_client()
    assert json_sign_in(on_first, "alice", PASSWORD).status_code == 200
    on_second = second.test_client()
    on_second.set_cookie("session", on_first.get_cookie("session").value)
    assert is_logged_in(on_second)


def test_sign_in_limits_count_per_site(
    site: Callable[[str], Flask], make_user: Callable[..., User]
) -> None:
    make_user("alice")
    first, second = (site(name) for name in namespaces())
    statuses = [json_sign_in(first.test_client(), "alice", "wrong").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert json_sign_in(second.test_client(), "alice", "wrong").status_code == 401


def test_a_job_lock_and_the_cache_belong_to_one_site(site: Callable[[str], Flask]) -> None:
    first, second = (site(name) for name in namespaces())
    with first.app_context(), try_lock(first, "reminders", 30) as taken_first:
        with second.app_context(), try_lock(second, "reminders", 30) as taken_second:
            assert (taken_first, taken_second) == (True, True)
        with try_lock(first, "reminders", 30) as taken_again:
            assert not taken_again
        cache.set("greeting", "first")
    with second.app_context():
        assert cache.get("greeting") is None
    assert first.config["SOCKETIO_CHANNEL"] != second.config["SOCKETIO_CHANNEL"]


@pytest.mark.parametrize("name", ["", "two words"])
def test_a_namespace_that_is_no_name_is_refused_at_start(name: str) -> None:
    with pytest.raises(ConfigurationError, match="REDIS_NAMESPACE"):
        create_app("testing", REDIS_NAMESPACE=name)
