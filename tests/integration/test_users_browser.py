"""Browser protection on the account routes: CSRF tokens in the forms of signed-in users, no
writes from other sites."""

from __future__ import annotations

import pytest

from conftest import BROWSER, PASSWORD, csrf_token_from
from helpdesk.users.models import User
from helpers import JSON, count_rows, is_logged_in, user_row

CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
]

FORGED_ACCOUNT = {"username": "alice", "email": "alice@example.com", "full_name": "Forged"}
PASSWORD_CHANGE = {
    "current_password": PASSWORD,
    "new_password": "purple-otter-77",
    "confirm_password": "purple-otter-77",
}


@pytest.fixture
def alice(make_user, login):
    """Alice, signed in on the client."""
    user = make_user("alice", full_name="Alice Smith")
    login(user)
    return user


def registration(username: str = "newbie") -> dict[str, str]:
    """A valid registration form."""
    return {
        "username": username,
        "email": f"{username}@example.com",
        "password": PASSWORD,
        "confirm_password": PASSWORD,
    }


# Signing in and registering are the forms of signed-out visitors: they carry no CSRF token
# (it would need a server-side session for every anonymous page view); the origin check refuses
# every browser post that does not come from our own pages.


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_a_login_form_posted_from_another_site_is_refused(client, make_user, headers):
    make_user("alice")
    body = {"username": "alice", "password": PASSWORD}
    response = client.post("/users/login", data=body, headers=headers)
    assert response.status_code == 403
    assert not is_logged_in(client)


def test_the_login_form_of_our_own_page_signs_in(client, make_user):
    make_user("alice")
    page = client.get("/users/login", headers=BROWSER)
    assert 'name="csrf_token"' not in page.get_data(as_text=True)
    response = client.post(
        "/users/login", data={"username": "alice", "password": PASSWORD}, headers=BROWSER
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/tasks/my-tasks"
    assert is_logged_in(client)


def test_pages_for_browsers_carry_a_csrf_token(client, alice):
    for path in ("/users/account", "/users/password"):
        assert csrf_token_from(client, path)


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_a_register_form_from_another_site_creates_no_user(client, headers):
    response = client.post("/users/register", data=registration(), headers=headers)
    assert response.status_code == 403
    assert count_rows(User) == 0


def test_the_register_form_of_our_own_page_creates_the_user(client):
    response = client.post("/users/register", data=registration(), headers=BROWSER)
    assert response.status_code == 302
    assert count_rows(User) == 1


def test_account_form_without_token_changes_nothing(client, alice):
    before = user_row(alice.id)
    response = client.post("/users/account", data=FORGED_ACCOUNT, headers=BROWSER)
    assert response.status_code == 400
    assert user_row(alice.id) == before


def test_account_form_with_token_saves(client, alice):
    token = csrf_token_from(client, "/users/account")
    body = {
        "username": "alice",
        "email": "alice@example.com",
        "full_name": "Alice Browser",
        "csrf_token": token,
    }
    response = client.post("/users/account", data=body, headers=BROWSER)
    assert response.status_code == 302
    assert user_row(alice.id)["full_name"] == "Alice Browser"


def test_password_form_with_token_changes_the_password(client, alice):
    before = user_row(alice.id)["password"]
    token = csrf_token_from(client, "/users/password")
    body = {**PASSWORD_CHANGE, "csrf_token": token}
    response = client.post("/users/password", data=body, headers=BROWSER)
    assert response.status_code == 302
    assert user_row(alice.id)["password"] != before
    assert is_logged_in(client)


def test_password_form_without_token_changes_nothing(client, alice):
    before = user_row(alice.id)
    response = client.post("/users/password", data=PASSWORD_CHANGE, headers=BROWSER)
    assert response.status_code == 400
    assert user_row(alice.id) == before


def test_logout_form_post_needs_the_token(client, alice):
    assert client.post("/users/logout", headers=BROWSER).status_code == 400
    assert is_logged_in(client)
    token = csrf_token_from(client, "/users/account")
    response = client.post("/users/logout", data={"csrf_token": token}, headers=BROWSER)
    assert response.status_code == 302
    assert not is_logged_in(client)


def test_same_origin_json_from_the_pages_scripts_needs_no_token(client, alice):
    headers = {**JSON, "Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    response = client.post("/users/account", json={"full_name": "Via XHR"}, headers=headers)
    assert response.status_code == 200
    assert user_row(alice.id)["full_name"] == "Via XHR"


def test_typed_in_form_post_still_needs_the_token(client, alice):
    before = user_row(alice.id)
    response = client.post(
        "/users/account", data=FORGED_ACCOUNT, headers={"Sec-Fetch-Site": "none"}
    )
    assert response.status_code == 400
    assert user_row(alice.id) == before


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_json_account_change_is_403(client, alice, headers):
    before = user_row(alice.id)
    response = client.post("/users/account", json={"full_name": "Forged"}, headers=headers)
    assert response.status_code == 403
    assert response.get_json()["status_code"] == 403
    assert user_row(alice.id) == before


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_form_with_a_valid_token_is_still_403(client, alice, headers):
    token = csrf_token_from(client, "/users/account")
    before = user_row(alice.id)
    body = {**FORGED_ACCOUNT, "csrf_token": token}
    response = client.post("/users/account", data=body, headers=headers)
    assert response.status_code == 403
    assert user_row(alice.id) == before


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_password_change_is_403(client, alice, headers):
    before = user_row(alice.id)
    response = client.post("/users/password", json=PASSWORD_CHANGE, headers=headers)
    assert response.status_code == 403
    assert user_row(alice.id) == before


def test_cross_site_login_is_403_and_signs_nobody_in(client, make_user):
    make_user("alice")
    response = client.post(
        "/users/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403
    assert not is_logged_in(client)


def test_cross_site_registration_creates_no_user(client):
    response = client.post("/users/register", json=registration(), headers={"Origin": "http://x.y"})
    assert response.status_code == 403
    assert count_rows(User) == 0


def test_cross_site_logout_post_is_403(client, alice):
    response = client.post("/users/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert is_logged_in(client)
