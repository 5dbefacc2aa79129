"""GET/POST /users/password: the change keeps this session and ends every other one."""

from __future__ import annotations

import pytest

from conftest import PASSWORD
from helpers import HTML, JSON, is_logged_in, user_row

CHANGE = "/users/password"
NEW_PASSWORD = "purple-otter-77"


def change(current: str = PASSWORD, new: str = NEW_PASSWORD, confirm: str | None = None) -> dict:
    """A password change body."""
    return {
        "current_password": current,
        "new_password": new,
        "confirm_password": new if confirm is None else confirm,
    }


@pytest.fixture
def alice(make_user, login):
    """Alice, signed in on the client."""
    user = make_user("alice")
    login(user)
    return user


def test_anonymous_client_gets_401(client):
    assert client.post(CHANGE, json=change()).status_code == 401
    assert client.get(CHANGE, headers=JSON).status_code == 401


def test_page_renders_a_form(client, alice):
    response = client.get(CHANGE, headers=HTML)
    assert response.status_code == 200
    assert 'name="new_password"' in response.get_data(as_text=True)


def test_success_keeps_this_client_signed_in(client, alice):
    response = client.post(CHANGE, json=change(), headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["success"] is True
    assert is_logged_in(client)


def test_success_signs_out_the_users_other_sessions(app, client, alice, login):
    other = app.test_client()
    login(alice, the_client=other)
    assert is_logged_in(other)
    client.post(CHANGE, json=change())
    assert not is_logged_in(other)
    assert is_logged_in(client)


def test_success_leaves_other_users_signed_in(app, client, alice, make_user, login):
    other = app.test_client()
    login(make_user("bob"), the_client=other)
    client.post(CHANGE, json=change())
    assert is_logged_in(other)


def test_old_remember_cookie_stops_working(app, client, make_user):
    make_user("alice")
    client.post("/users/login", json={"username": "alice", "password": PASSWORD, "remember": True})
    remembered = client.get_cookie("remember_token").value
    client.post(CHANGE, json=change())
    fresh = app.test_client()
    fresh.set_cookie("remember_token", remembered)
    assert not is_logged_in(fresh)


def test_old_password_no_longer_works_and_the_new_one_does(app, client, alice):
    client.post(CHANGE, json=change())
    script = app.test_client()
    old = script.post("/users/login", json={"username": "alice", "password": PASSWORD})
    assert old.status_code == 401
    new = script.post("/users/login", json={"username": "alice", "password": NEW_PASSWORD})
    assert new.status_code == 200


def test_session_id_changes_on_password_change(client, alice):
    before = client.get_cookie("session").value
    client.post(CHANGE, json=change())
    assert client.get_cookie("session").value != before


def test_form_change_redirects_to_the_account_page(client, alice):
    response = client.post(CHANGE, data=change(), headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/account"
    assert is_logged_in(client)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (change(current="not-my-password"), "current_password"),
        (change(new="short1"), "new_password"),
        (change(new="1234567890"), "new_password"),
        (change(new="password1"), "new_password"),
        (change(new="x" * 73), "new_password"),
        (change(confirm="purple-otter-78"), "confirm_password"),
        ({"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": PASSWORD}, "new_password"),
        ({**change(), "new_password": ["a"]}, "new_password"),
    ],
)
def test_rejected_change_is_422_and_changes_nothing(app, client, alice, login, body, field):
    other = app.test_client()
    login(alice, the_client=other)
    before = user_row(alice.id)
    response = client.post(CHANGE, json=body, headers=JSON)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.get_json()["errors"]
    assert user_row(alice.id) == before
    assert is_logged_in(client)
    assert is_logged_in(other)


def test_password_equal_to_the_username_is_rejected(client, make_user, login):
    user = make_user("longusername")
    login(user)
    body = change(new="LongUserName")
    response = client.post(CHANGE, json=body, headers=JSON)
    assert response.status_code == 422
    assert "new_password" in response.get_json()["errors"]


def test_wrong_current_password_is_shown_on_the_form(client, alice):
    response = client.post(CHANGE, data=change(current="nope-nope-1"), headers=HTML)
    assert response.status_code == 422
    assert "The current password is wrong." in response.get_data(as_text=True)


@pytest.mark.parametrize("body", ["[]", '"x"', "{broken"])
def test_non_object_json_body_is_400(client, alice, body):
    before = user_row(alice.id)
    response = client.post(CHANGE, data=body, content_type="application/json")
    assert response.status_code == 400
    assert user_row(alice.id) == before
