"""Server-side sessions: each request reads the store, so what another process did to a session
(ended it, rewrote it) counts at once; an unchanged session is not written again; of several
session cookies, the one the store knows is used."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis
from flask import Flask

from conftest import require_service
from helpdesk.core.sessions import register_sessions
from helpers import JSON, is_logged_in


def store_id(app, client) -> str:
    """Where the store keeps the client's session."""
    return app.session_interface.key_prefix + client.get_cookie("session").value


def test_a_session_ended_by_another_process_is_ended_here(app, client, make_user, login):
    login(make_user("alice"))
    assert is_logged_in(client)
    app.session_interface.cache.delete(store_id(app, client))  # as the other process's logout does
    assert not is_logged_in(client)


def test_a_session_rewritten_by_another_process_is_read_again(app, client, make_user, login):
    login(make_user("alice"))
    assert is_logged_in(client)
    cache, key = app.session_interface.cache, store_id(app, client)
    data = cache.get(key)
    cache.set(key, {k: v for k, v in data.items() if k != "_user_id"}, timeout=3600)
    assert not is_logged_in(client)


def test_an_unchanged_session_is_not_written_yet_answers_vary_cookie(app, client, make_user, login):
    """A response that read the session differs by cookie, so caches must key on it; one that
    changed nothing leaves the file as it was."""
    login(make_user("alice", is_redmine_user=True))
    (session_file,) = (Path(app.instance_path) / "sessions").iterdir()
    written = os.stat(session_file).st_mtime_ns
    response = client.get("/tasks/api/statuses")
    assert response.status_code == 200
    assert response.headers.getlist("Vary") == ["Cookie"]
    assert os.stat(session_file).st_mtime_ns == written


@pytest.fixture(params=["filesystem", "redis"])
def store(request: pytest.FixtureRequest, app: Flask) -> str:
    """The app's sessions in files (as everywhere else in the tests) or in Redis."""
    if request.param == "redis":
        try:
            redis.Redis.from_url(app.config["SESSION_REDIS_URL"], socket_timeout=2).ping()
        except redis.RedisError as error:
            require_service("Redis", str(error))
        app.config["SESSION_TYPE"] = "redis"
        register_sessions(app)
    return request.param


def test_of_several_session_cookies_the_one_the_store_knows_is_used(
    app, client, make_user, login, store
):
    """The seed's example client sends a placeholder `session` cookie ahead of the real one."""
    login(make_user("alice"))
    real = client.get_cookie("session").value
    script = app.test_client(use_cookies=False)
    for cookies in (f"session=placeholder; session={real}", f"session={real}; session=placeholder"):
        response = script.get("/users/account", headers={"Cookie": cookies, **JSON})
        assert response.status_code == 200, cookies
    response = script.get("/users/account", headers={"Cookie": "session=a; session=b", **JSON})
    assert response.status_code == 401
