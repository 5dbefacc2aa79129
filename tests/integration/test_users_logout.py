"""GET/POST /users/logout: the server-side session ends, not just the cookie."""

from __future__ import annotations

import pytest

from conftest import PASSWORD
from helpers import HTML, JSON, is_logged_in


@pytest.mark.parametrize("method", ["get", "post"])
def test_logout_ends_the_session(client, make_user, login, method):
    login(make_user("alice"))
    assert is_logged_in(client)
    response = getattr(client, method)("/users/logout", headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/login"
    assert not is_logged_in(client)


def test_json_logout_answers_json(client, make_user, login):
    login(make_user("alice"))
    response = client.get("/users/logout", headers=JSON)
    assert response.status_code == 200
    assert response.get_json()["success"] is True
    assert not is_logged_in(client)


def test_old_session_cookie_replayed_after_logout_is_not_logged_in(app, client, make_user, login):
    login(make_user("alice"))
    stolen = client.get_cookie("session").value
    client.get("/users/logout")
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert not is_logged_in(replay)


def test_logout_clears_the_remember_cookie(app, client, make_user):
    make_user("alice")
    client.post("/users/login", json={"username": "alice", "password": PASSWORD, "remember": True})
    assert client.get_cookie("remember_token") is not None
    client.get("/users/logout")
    assert client.get_cookie("remember_token") is None
    assert not is_logged_in(client)


def test_logout_of_one_client_leaves_another_signed_in(app, client, make_user, login):
    user = make_user("alice")
    other = app.test_client()
    login(user)
    login(user, the_client=other)
    client.get("/users/logout")
    assert not is_logged_in(client)
    assert is_logged_in(other)


def test_logout_when_not_logged_in_is_harmless(client):
    response = client.get("/users/logout", headers=JSON)
    assert response.status_code == 200
    assert not is_logged_in(client)
