"""GET/POST /users/logout: the server-side session ends, not just the cookie."""

from __future__ import annotations

import re

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


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_cross_site_get_asks_before_logging_out(client, make_user, login, site):
    """A link or image on another site cannot sign a user out: it gets a page that posts."""
    login(make_user("alice"))
    response = client.get("/users/logout", headers={**HTML, "Sec-Fetch-Site": site})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="logout-confirm"' in html
    assert re.search(r'<form method="post" action="/users/logout"', html)
    assert 'name="csrf_token"' in html
    assert is_logged_in(client)


def test_a_cross_origin_get_by_origin_header_asks_too(client, make_user, login):
    login(make_user("alice"))
    response = client.get("/users/logout", headers={**HTML, "Origin": "https://evil.example"})
    assert 'id="logout-confirm"' in response.get_data(as_text=True)
    assert is_logged_in(client)


def test_a_typed_or_same_origin_get_still_logs_out(client, make_user, login):
    login(make_user("alice"))
    response = client.get("/users/logout", headers={**HTML, "Sec-Fetch-Site": "none"})
    assert response.status_code == 302
    assert not is_logged_in(client)


def test_a_remember_cookie_copied_before_logout_no_longer_signs_in(app, client, make_user):
    """Logout invalidates remember-me on the server, not only by deleting the browser's cookie."""
    make_user("alice")
    client.post("/users/login", json={"username": "alice", "password": PASSWORD, "remember": True})
    copied = client.get_cookie("remember_token").value
    client.post("/users/logout", headers=JSON)
    thief = app.test_client()
    thief.set_cookie("remember_token", copied)
    assert not is_logged_in(thief)
