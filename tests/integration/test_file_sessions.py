"""Sessions in files: a process keeps what it read, yet never misses what another process did
to the file (ended, rewritten, expired)."""

from __future__ import annotations

import os
import time

from helpers import is_logged_in


def session_file(app, client) -> tuple[str, str]:
    """The store id and file of the client's session."""
    interface = app.session_interface
    store_id = interface._get_store_id(client.get_cookie("session").value)
    return store_id, interface.cache._get_filename(store_id)


def test_a_session_ended_by_another_process_is_ended_here(app, client, make_user, login):
    login(make_user("alice"))
    assert is_logged_in(client)  # read, and kept
    store_id, _ = session_file(app, client)
    app.session_interface.cache.delete(store_id)  # as the other process's logout does
    assert not is_logged_in(client)


def test_a_session_rewritten_by_another_process_is_read_again(app, client, make_user, login):
    login(make_user("alice"))
    assert is_logged_in(client)
    store_id, _ = session_file(app, client)
    cache = app.session_interface.cache
    data = cache.get(store_id)
    cache.set(store_id, {k: v for k, v in data.items() if k != "_user_id"}, timeout=3600)
    assert not is_logged_in(client)


def test_an_expired_session_file_is_not_used(app, client, make_user, login):
    login(make_user("alice"))
    assert is_logged_in(client)
    _, filename = session_file(app, client)
    lifetime = app.permanent_session_lifetime.total_seconds()
    past = time.time() - lifetime - 60
    os.utime(filename, (past, past))
    assert not is_logged_in(client)


def test_a_session_holding_messages_to_flash_is_not_kept(app, client):
    client.get("/tasks/my-tasks")  # redirected to the login page with a message to flash
    store_id, _ = session_file(app, client)
    assert isinstance(app.session_interface.cache.get(store_id)["_flashes"], list)
    client.get("/tasks/my-tasks")
    assert store_id not in app.session_interface._kept


def test_an_unchanged_session_is_not_written_yet_answers_vary_cookie(app, client, make_user, login):
    """A response that read the session differs by cookie, so caches must key on it; one that
    changed nothing leaves the file as it was."""
    login(make_user("alice", is_redmine_user=True))
    _, filename = session_file(app, client)
    written = os.stat(filename).st_mtime_ns
    response = client.get("/tasks/api/statuses")
    assert response.status_code == 200
    assert response.headers.getlist("Vary") == ["Cookie"]
    assert os.stat(filename).st_mtime_ns == written
