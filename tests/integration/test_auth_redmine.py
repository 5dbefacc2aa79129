"""Sign-in with Redmine against a real Redmine 5: the first sign-in creates the local user from
Redmine's profile, later ones refresh it; the password is never stored; Redmine down says so
while local administrators still sign in."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
import requests
from flask import Flask

from conftest import PASSWORD
from helpdesk.auth import build_providers
from helpers import HTML, JSON, free_port, is_logged_in, json_sign_in, user_named, user_row
from redmine_server import RedmineServer

pytestmark = pytest.mark.redmine

LOGIN = "/users/login"
UNAVAILABLE = "Redmine is unavailable, try again later."
WRONG = "Invalid username or password."
REDMINE_PASSWORD = "redmine-password-1"
logins = (f"rmauth{os.getpid() % 10_000}x{n}" for n in itertools.count(1))  # Redmine outlives tests


def admin_call(server: RedmineServer, method: str, path: str, **kwargs: Any) -> Any:
    """One REST call with Redmine's admin key."""
    headers = {"X-Redmine-API-Key": server.api_key}
    return requests.request(method, f"{server.url}{path}", headers=headers, timeout=30, **kwargs)


def redmine_user(server: RedmineServer, **fields: str) -> tuple[str, int]:
    """A fresh Redmine user (login, id)."""
    login = next(logins)
    body = {
        "login": login,
        "firstname": "Ivan",
        "lastname": "Petrov",
        "mail": f"{login}@Example.net",
        "password": REDMINE_PASSWORD,
        **fields,
    }
    response = admin_call(server, "POST", "/users.json", json={"user": body})
    assert response.status_code == 201, response.text
    return login, response.json()["user"]["id"]


def use_providers(app: Flask, *names: str, **settings: Any) -> None:
    """Rebuild the app's sign-in chain."""
    app.config.update({"AUTH_PROVIDERS": names, **settings})
    app.extensions["auth_providers"] = build_providers(app.config)


@pytest.fixture
def redmine(app: Flask, redmine_server: RedmineServer) -> RedmineServer:
    """Redmine, with the app signing in through local then redmine."""
    use_providers(
        app,
        "local",
        "redmine",
        REDMINE_URL=redmine_server.url,
        REDMINE_API_KEY=redmine_server.api_key,
        REDMINE_TIMEOUT=5,
    )
    return redmine_server


def test_first_sign_in_creates_the_user_and_later_ones_refresh_it(client, redmine):
    login, user_id = redmine_user(redmine)
    response = json_sign_in(client, login, REDMINE_PASSWORD)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["success"] is True
    assert is_logged_in(client)
    user = user_named(login)
    assert user is not None
    assert (user.auth_source, user.redmine_username, user.is_redmine_user) == (
        "redmine",
        login,
        True,
    )
    assert (user.full_name, user.email) == ("Ivan Petrov", f"{login}@example.net")
    assert user.is_admin is False
    assert user_row(user.id)["password"] == ""  # the Redmine password is not kept
    assert REDMINE_PASSWORD not in str(user_row(user.id))

    changed = admin_call(
        redmine, "PUT", f"/users/{user_id}.json", json={"user": {"lastname": "Sidorov"}}
    )
    assert changed.status_code == 204, changed.text
    client.post("/users/logout", headers=JSON)
    assert json_sign_in(client, login, REDMINE_PASSWORD).status_code == 200
    assert user_named(login).full_name == "Ivan Sidorov"


def test_wrong_password_and_unknown_login_are_plain_misses(client, redmine):
    login, _id = redmine_user(redmine)
    for username, password in ((login, "not-the-password"), ("no-such-login", REDMINE_PASSWORD)):
        response = json_sign_in(client, username, password)
        assert response.status_code == 401
        assert response.get_json() == {"success": False, "message": WRONG}
    assert user_named(login) is None
    assert json_sign_in(client, login, "пароль-кириллицей").status_code == 401


def test_a_cyrillic_redmine_password_signs_in(client, redmine):
    """Credentials go to Redmine as UTF-8, so a password in Russian works."""
    login, _id = redmine_user(redmine, password="пароль-кириллицей-1")
    assert json_sign_in(client, login, "пароль-кириллицей-2").status_code == 401
    assert json_sign_in(client, login, "пароль-кириллицей-1").status_code == 200


def test_a_redmine_user_is_checked_by_redmine_only(app, client, redmine):
    login, _id = redmine_user(redmine)
    assert json_sign_in(client, login, REDMINE_PASSWORD).status_code == 200
    client.post("/users/logout", headers=JSON)
    use_providers(app, "local")  # Redmine switched off: no local password to fall back on
    assert json_sign_in(client, login, REDMINE_PASSWORD).status_code == 401


def test_a_directory_that_is_down_does_not_stop_a_redmine_newcomer(app, client, redmine):
    use_providers(
        app,
        "local",
        "ldap",
        "redmine",
        LDAP_URL=f"ldap://127.0.0.1:{free_port()}",  # nobody listens
        LDAP_BASE_DN="dc=example,dc=com",
        LDAP_TIMEOUT=1,
    )
    login, _id = redmine_user(redmine)
    assert json_sign_in(client, login, REDMINE_PASSWORD).status_code == 200
    assert user_named(login).auth_source == "redmine"
    client.post("/users/logout", headers=JSON)
    response = json_sign_in(client, "nobody-anywhere", REDMINE_PASSWORD)
    assert response.status_code == 503  # the directory might have known them
    assert response.get_json()["message"] == "The directory is unavailable, try again later."


def test_redmine_down_says_so_and_local_admins_still_json_sign_in(client, redmine, make_user):
    login, _id = redmine_user(redmine)
    assert json_sign_in(client, login, REDMINE_PASSWORD).status_code == 200
    client.post("/users/logout", headers=JSON)
    admin = make_user("rmadmin", is_admin=True)
    redmine.stop()
    try:
        for username in (login, "someone-new"):
            response = json_sign_in(client, username, REDMINE_PASSWORD)
            assert response.status_code == 503
            assert response.get_json() == {"success": False, "message": UNAVAILABLE}
        page = client.post(
            LOGIN, data={"username": login, "password": REDMINE_PASSWORD}, headers=HTML
        )
        assert page.status_code == 503
        assert UNAVAILABLE in page.get_data(as_text=True)
        assert json_sign_in(client, admin.username, PASSWORD).status_code == 200
    finally:
        redmine.serve()
    client.post("/users/logout", headers=JSON)
    assert json_sign_in(client, login, REDMINE_PASSWORD).status_code == 200
